// The insight API (/api/v1/insight, /api/v1/state/reset/baseline): see docs/anomalies.md.
import { ApiClient } from "./client";

export interface AnomalousSeries {
  series: string;
  labels: Record<string, string>;
  /** Unix seconds the anomalous stretch began. */
  since: number;
}

export interface DiskPrediction {
  mountpoint?: string;
  device?: string;
  /** Hours until full; null while the trend does not head there. */
  hours: number | null;
}

export interface HostInsight {
  host: string;
  ts: number;
  series: number;
  anomaly_rate_pct: number | null;
  /** 0-100: current resource pressure. */
  stress: number | null;
  /** 0-100: how usual the last minutes are (100 = nothing unusual); null while every
   * series of the host is still learning (its warm-up). */
  stability: number | null;
  /** Series of the host still in their warm-up: never anomalous yet. */
  learning?: number;
  anomalous: AnomalousSeries[];
  predictions: {
    disk_full_hours: DiskPrediction[];
    memory_full_hours?: number | null;
    memory_trend_pct_per_hour?: number | null;
  };
}

export interface Insight {
  host: string;
  restore: { state: "fresh" | "restored" | "damaged"; series: number; saved_at: number | null; message: string };
  series: number;
  max_series: number;
  analysed_samples: number;
  skipped_samples: number;
  evicted_series: number;
  anomalous_now: number;
  learning_now?: number;
  warmup?: { samples: number; seconds: number };
  hosts: HostInsight[];
}

export function getInsight(api: ApiClient, signal?: AbortSignal): Promise<Insight> {
  return api.request("GET", "/api/v1/insight", { signal });
}
