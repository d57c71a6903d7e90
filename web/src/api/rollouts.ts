// The rollout guard's API (/api/v1/rollouts…): types and typed calls.
// The shapes are the rollout API contract agreed between the controller/API and the dashboard.
import { ApiClient } from "./client";
import type { HistoryResponse, TraceResponse } from "./types";

export type Phase =
  | "pending"
  | "progressing"
  | "paused"
  | "promoting"
  | "promoted"
  | "rolling_back"
  | "rolled_back"
  | "aborted"
  | "failed";

export interface Weights {
  stable: number;
  canary: number;
  baseline: number;
}

export type GateState = "pass" | "breach" | "nodata" | "inconclusive" | "hold";

export interface GateStatus {
  name: string;
  kind: "threshold" | "judge";
  source: string;
  query: string;
  op: "<=" | ">=";
  bound: number;
  value: number | null;
  samples: number;
  status: GateState;
  /** Consecutive breaches so far. */
  breaches: number;
  /** The gate's no-data policy. */
  no_data: string;
  explanation: string;
}

export type MetricVerdictState = "pass" | "fail" | "inconclusive" | "nodata";

export interface MetricVerdict {
  name: string;
  verdict: MetricVerdictState;
  rule: string;
  explanation: string;
  canary_n: number;
  baseline_n: number;
  e_value: number | null;
  /** Canary ÷ baseline (1.04 = 4 % higher). */
  effect: number | null;
  interval: [number, number] | null;
  stats: Record<string, number | null>;
}

export interface Verdict {
  verdict: "pass" | "fail" | "inconclusive";
  score: number;
  mode: "sequential" | "kayenta";
  alpha: number;
  explanation: string;
  metrics: MetricVerdict[];
}

export interface Step {
  weight: number;
  hold_s: number;
  manual: boolean;
}

export interface RolloutTarget {
  service: string;
  stable: string;
  canary: string;
  baseline: string;
}

export interface RolloutSummary {
  name: string;
  phase: Phase;
  step_index: number;
  /** The number of steps. */
  steps: number;
  weights: Weights;
  target: RolloutTarget;
  message: string;
  created_at: number;
  updated_at: number;
}

/** The manual actions a phase allows; "promote" also allows promoting fully. */
export type RolloutAction = "pause" | "resume" | "promote" | "abort" | "retry";

export interface Rollout extends RolloutSummary {
  steps_detail: Step[];
  step_started_at: number;
  gates: GateStatus[];
  judge: Verdict | null;
  actuator: { type: string; detail: string };
  spec: Record<string, unknown>;
  spec_yaml: string;
  actions: string[];
}

export interface Exemplar {
  trace_id: string;
  span_id: string;
  name: string;
  duration_ms: number;
  status: string;
  ts: number;
}

export type DecisionKind =
  | "start"
  | "step"
  | "hold"
  | "pause"
  | "resume"
  | "promote"
  | "promoted"
  | "rollback"
  | "rolled_back"
  | "abort"
  | "retry"
  | "fail"
  | "note";

export interface Decision {
  id: number;
  ts: number;
  rollout: string;
  kind: DecisionKind | (string & {});
  from_phase: string;
  to_phase: string;
  step_index: number;
  weights: Weights;
  /** "controller", "token:alice" or "user:alice". */
  actor: string;
  reason: string;
  evidence: { gates?: GateStatus[]; judge?: Verdict | null; exemplars?: Exemplar[] } | null;
}

/** The name of the stored series of a gate's value (labels: rollout, gate). */
export const GATE_SERIES = "sentra.rollout.gate.value";

const path = (name: string) => `/api/v1/rollouts/${encodeURIComponent(name)}`;

export function listRollouts(api: ApiClient, signal?: AbortSignal): Promise<{ rollouts: RolloutSummary[] }> {
  return api.request("GET", "/api/v1/rollouts", { signal });
}

export function getRollout(api: ApiClient, name: string, signal?: AbortSignal): Promise<Rollout> {
  return api.request("GET", path(name), { signal });
}

/** Newest first; `beforeId` pages back to older decisions. */
export function listDecisions(
  api: ApiClient,
  name: string,
  opts: { limit?: number; beforeId?: number } = {},
  signal?: AbortSignal,
): Promise<{ decisions: Decision[] }> {
  return api.request("GET", `${path(name)}/decisions`, {
    query: { limit: opts.limit ?? 100, before_id: opts.beforeId },
    signal,
  });
}

export function gateHistory(
  api: ApiClient,
  rollout: string,
  gate: string,
  from: number,
  to: number,
  signal?: AbortSignal,
): Promise<HistoryResponse> {
  return api.history({ name: GATE_SERIES, labels: { rollout, gate }, from, to, limit: 500 }, signal);
}

export function getTrace(api: ApiClient, traceId: string, signal?: AbortSignal): Promise<TraceResponse> {
  return api.request("GET", `/api/v1/traces/${encodeURIComponent(traceId)}`, { signal });
}

/**
 * Run a manual action. `full` (promote only) skips the remaining steps.
 * Answers the rollout as it is after the action.
 */
export function rolloutAction(
  api: ApiClient,
  name: string,
  action: RolloutAction,
  opts: { full?: boolean } = {},
): Promise<Rollout> {
  const p = `${path(name)}/${action}`;
  if (action === "promote" && opts.full) return api.request("POST", p, { body: { full: true } });
  return api.request("POST", p);
}
