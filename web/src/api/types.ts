// Types of the node's JSON API (see docs/dashboard.md for the contract).

export type Labels = Record<string, string>;

export interface Health {
  status: string;
  version: string;
  uptime_s: number;
}

export interface WhoAmI {
  name: string;
  role: string;
}

export type CollectorState = "ok" | "stale" | "absent" | "error" | (string & {});

export interface CollectorStatus {
  state: CollectorState;
  message?: string;
  ts?: number | null;
  duration_ms?: number | null;
}

export interface MetricPoint {
  labels: Labels;
  value: number | null;
  ts: number;
}

export interface Summary {
  ts: number;
  hostname: string;
  previous_run_unclean: boolean;
  collectors: Record<string, CollectorStatus>;
  metrics: Record<string, MetricPoint[]>;
}

export interface SeriesRef {
  name: string;
  labels: Labels;
}

export interface SeriesList {
  series: SeriesRef[];
}

export interface HistorySeries extends SeriesRef {
  points: [number, number | null][];
  min?: (number | null)[];
  max?: (number | null)[];
}

export interface HistoryResponse {
  tier: string;
  granularity: number;
  series: HistorySeries[];
}

export interface StorageInfo {
  data_dir: string;
  db_path: string;
  usage: Record<string, number>;
  history: {
    series: number;
    raw_samples: number;
    oldest_ts: number | null;
    newest_ts: number | null;
    db_bytes: number;
  };
  previous_run_unclean: boolean;
}

export interface CacheClearResult {
  files: number;
  bytes: number;
}

export interface HistoryDeleteResult {
  deleted: number;
}

/** One stored span (GET /api/v1/traces/{id}); times are unix seconds. */
export interface TraceSpan {
  trace_id: string;
  span_id: string;
  parent_id: string;
  service: string;
  version: string;
  name: string;
  kind: string;
  start: number;
  end: number;
  duration_ms: number;
  status: "ok" | "error" | "unset" | (string & {});
  status_message: string;
  attributes: Record<string, unknown>;
}

export interface TraceResponse {
  trace_id: string;
  spans: TraceSpan[];
}
