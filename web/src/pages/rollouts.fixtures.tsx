// Test fixtures for the rollout pages: the rollout API contract's shapes, a fake live socket,
// and the app services around a page. Used by the *.test.tsx files only.
import type { ReactNode } from "react";
import { ApiClient } from "../api/client";
import type { Decision, Rollout, RolloutSummary } from "../api/rollouts";
import type { TraceResponse } from "../api/types";
import { AppContext, type AppServices } from "../context";
import { SeriesBuffers } from "../live/buffers";
import type { DecisionFeedOptions } from "../live/decisions";
import type { LiveSource } from "../live/source";

export const T0 = 1764615000;

export function summary(extra: Partial<RolloutSummary> = {}): RolloutSummary {
  return {
    name: "checkout",
    phase: "progressing",
    step_index: 1,
    steps: 5,
    weights: { stable: 85, canary: 15, baseline: 0 },
    target: { service: "checkout", stable: "v1", canary: "v2", baseline: "" },
    message: "step 2 of 5 (15%): holding 12 s more",
    created_at: T0,
    updated_at: T0 + 12.5,
    ...extra,
  };
}

export function rollout(extra: Partial<Rollout> = {}): Rollout {
  return {
    ...summary(),
    steps_detail: [5, 15, 30, 50, 100].map((weight) => ({ weight, hold_s: 30, manual: false })),
    step_started_at: T0,
    gates: [
      {
        name: "p95",
        kind: "threshold",
        source: "builtin",
        query: "latency_p95_ms",
        op: "<=",
        bound: 120,
        value: 87.2,
        samples: 1520,
        status: "pass",
        breaches: 0,
        no_data: "hold",
        explanation: "p95 latency of v2 is 87.2 ms over the last 60 s (1,520 requests), within the bound of 120 ms",
      },
    ],
    judge: {
      verdict: "pass",
      score: 92,
      mode: "sequential",
      alpha: 0.01,
      explanation: "No metric got worse.",
      metrics: [
        {
          name: "latency",
          verdict: "pass",
          rule: "e-value>=1/alpha",
          explanation: "v2's median latency is 4% above v1's, within the 5% floor.",
          canary_n: 812,
          baseline_n: 799,
          e_value: 3.1,
          effect: 1.04,
          interval: [0.98, 1.11],
          stats: { canary_p50: 41.0, baseline_p50: 40.1 },
        },
      ],
    },
    actuator: { type: "haproxy", detail: "set weight backend/v2 15" },
    spec: { judge: { metrics: [{ name: "latency", floor_pct: 5 }] }, analysis: { consecutive_breaches_to_rollback: 2 } },
    spec_yaml: "name: checkout\n",
    actions: ["pause", "abort", "promote"],
    ...extra,
  };
}

export const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

export function decisions(): Decision[] {
  return [
    {
      id: 17,
      ts: T0 + 12.5,
      rollout: "checkout",
      kind: "rollback",
      from_phase: "progressing",
      to_phase: "rolling_back",
      step_index: 1,
      weights: { stable: 85, canary: 15, baseline: 0 },
      actor: "controller",
      reason: "p95 latency breached its bound twice in a row (143 ms, 151 ms > 120 ms): rolling back",
      evidence: {
        gates: [{ ...rollout().gates[0]!, value: 151, status: "breach", breaches: 2 }],
        judge: null,
        exemplars: [{ trace_id: TRACE_ID, span_id: "00f067aa0ba902b7", name: "GET /pay", duration_ms: 412, status: "error", ts: T0 + 11 }],
      },
    },
    {
      id: 16,
      ts: T0,
      rollout: "checkout",
      kind: "start",
      from_phase: "pending",
      to_phase: "progressing",
      step_index: 0,
      weights: { stable: 95, canary: 5, baseline: 0 },
      actor: "token:alice",
      reason: "started by alice",
      evidence: null,
    },
  ];
}

export function trace(): TraceResponse {
  const s = (span_id: string, parent_id: string, a: number, b: number, status = "ok", name = span_id) => ({
    trace_id: TRACE_ID,
    span_id,
    parent_id,
    service: "checkout",
    version: "v2",
    name,
    kind: "server",
    start: T0 + a,
    end: T0 + b,
    duration_ms: (b - a) * 1000,
    status,
    status_message: status === "error" ? "card declined" : "",
    attributes: {},
  });
  return { trace_id: TRACE_ID, spans: [s("root", "", 0, 0.412, "error", "GET /pay"), s("db", "root", 0.1, 0.4, "error", "SELECT cards")] };
}

export type Route = (url: URL, init: RequestInit) => Response | undefined;

export const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" } });

/** A global fetch answering by route; unknown paths answer 404 problem+json. Records every call. */
export function fakeFetch(routes: Route) {
  const calls: { method: string; url: URL; body: unknown }[] = [];
  const fn = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), "http://node");
    calls.push({ method: init.method ?? "GET", url, body: init.body });
    return routes(url, init) ?? json({ title: "Not Found", status: 404, detail: `no route ${url.pathname}` }, 404);
  };
  return { fn, calls };
}

export class FakeSocket {
  static all: FakeSocket[] = [];
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  close() {
    /* nothing to close */
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) } as MessageEvent);
  }
}

export const feed: DecisionFeedOptions = {
  url: "ws://node/api/v1/live?kinds=decisions",
  getToken: () => "T",
  makeSocket: (u) => new FakeSocket(u),
};

const idleLive: LiveSource = {
  state: "live",
  lastError: "",
  latest: null,
  start: () => undefined,
  stop: () => undefined,
  subscribe: () => () => undefined,
  onState: () => () => undefined,
};

export function Services({ children }: { children: ReactNode }) {
  const services: AppServices = {
    api: new ApiClient({ baseUrl: "", getToken: () => "T" }),
    live: idleLive,
    buffers: new SeriesBuffers(10, () => false),
    theme: "phosphor",
    palette: { series: ["#0f0", "#0ff", "#ff0", "#f0f"], fill: "#010", band: "#020", axis: "#888", grid: "#222" },
    prefillOnce: async () => undefined,
  };
  return <AppContext.Provider value={services}>{children}</AppContext.Provider>;
}
