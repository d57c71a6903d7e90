// The alerts API (/api/v1/alerts…): types and typed calls (see docs/alerts.md).
import { ApiClient } from "./client";

export type AlertState = "pending" | "firing" | "resolved" | "inactive";

export interface Alert {
  id: string;
  rule: string;
  kind: "threshold" | "anomaly" | "absence" | "rollout";
  severity: "info" | "warning" | "critical";
  /** The series key (name{labels}) or, for rollout rules, the rollout's name. */
  series: string;
  labels: Record<string, string>;
  state: AlertState;
  value: number | null;
  threshold: number;
  summary: string;
  reason: string;
  started_at: number;
  updated_at: number;
  fired_at: number | null;
  resolved_at: number | null;
  acked_by: string;
  /** Notifier name → "firing: sent", "firing: retrying in 2 s: …", … */
  notifications: Record<string, string>;
}

export interface AlertList {
  alerts: Alert[];
  /** Rules in use. */
  rules: number;
  /** Why the rules file is not used ("" when it is). */
  error: string;
}

/** The live stream's view of an alert change: kind "alerts", topic "alerts.<rule>". */
export interface AlertItem {
  kind: "alerts";
  topic: string;
  source: string;
  ts: number;
  data?: Alert;
}

export function listAlerts(api: ApiClient, state?: AlertState, signal?: AbortSignal): Promise<AlertList> {
  return api.request("GET", "/api/v1/alerts", { query: { state }, signal });
}

export function ackAlert(api: ApiClient, id: string): Promise<Alert> {
  return api.request("POST", `/api/v1/alerts/${encodeURIComponent(id)}/ack`);
}

/** Active first (firing, then pending), then the rest; newest change first within each. */
export function sortAlerts(alerts: Alert[]): Alert[] {
  const rank = (a: Alert) => (a.state === "firing" ? 0 : a.state === "pending" ? 1 : 2);
  return [...alerts].sort((a, b) => rank(a) - rank(b) || b.updated_at - a.updated_at);
}

/** Merge a live alert into a list: replaced by id, or added. */
export function mergeAlert(alerts: Alert[], alert: Alert): Alert[] {
  const rest = alerts.filter((a) => a.id !== alert.id);
  return alert.state === "inactive" ? rest : sortAlerts([alert, ...rest]);
}
