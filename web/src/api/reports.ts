// KPI reports (/api/v1/reports…): render a rollout's or the node's PDF, list and download them.
import type { ApiClient } from "./client";

export interface SavedReport {
  name: string;
  size: number;
  created_at: number;
  kind: "rollout" | "node";
  /** The download path, e.g. /api/v1/reports/rollout-checkout-20251201T180000Z.pdf */
  url: string;
}

export function listReports(api: ApiClient, signal?: AbortSignal): Promise<{ reports: SavedReport[] }> {
  return api.request("GET", "/api/v1/reports", { signal });
}

export function renderRolloutReport(api: ApiClient, name: string): Promise<SavedReport> {
  return api.request("POST", `/api/v1/reports/rollouts/${encodeURIComponent(name)}`);
}

export function renderNodeReport(api: ApiClient, from: number, to: number): Promise<SavedReport> {
  return api.request("POST", "/api/v1/reports/node", { query: { from: Math.floor(from), to: Math.ceil(to) } });
}

/** The PDF's bytes (the download needs the bearer token, so it cannot be a plain link). */
export function fetchReport(api: ApiClient, report: Pick<SavedReport, "url">): Promise<Blob> {
  return api.request("GET", report.url, { as: "blob" });
}
