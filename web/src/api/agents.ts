// Remote agents (`sentra agent`), from GET /api/v1/agents, and the host filter every
// telemetry page shares. An agent's samples carry the label host=<agent id>; this node's own
// samples carry no host label. Times are unix seconds.
import type { ApiClient } from "./client";
import type { Labels } from "./types";

export interface AgentSpool {
  batches: number;
  samples: number;
  bytes: number;
  dropped_batches: number;
  dropped_samples: number;
  torn: number;
}

export interface AgentCollector {
  name: string;
  state: string;
  message: string;
  series: number;
}

export interface Agent {
  id: string;
  hostname: string;
  version: string;
  first_seen: number;
  last_seen: number;
  last_batch_ts: number | null;
  interval_s: number;
  sample_interval_s: number;
  collectors: AgentCollector[];
  spool: AgentSpool;
  last_error: string;
  address: string;
  token: string;
  online: boolean;
}

export interface AgentsResponse {
  agents: Agent[];
  local: { hostname: string; version: string };
}

export function listAgents(api: ApiClient, signal?: AbortSignal): Promise<AgentsResponse> {
  return api.request("GET", "/api/v1/agents", { signal });
}

/** The host picker's value: every host, this node only, or one agent's id. */
export const ALL_HOSTS = "";
/** Agent ids start with a letter or digit, so this can never be one. */
export const LOCAL_HOST = "@local";

/** Whether a series with these labels belongs to the picked host. */
export function matchesHost(labels: Labels, host: string): boolean {
  if (host === ALL_HOSTS) return true;
  if (host === LOCAL_HOST) return !("host" in labels);
  return labels.host === host;
}

/** The labels that select a picked host's series on the server ({} for all hosts or this node). */
export function hostLabels(host: string): Labels {
  return host === ALL_HOSTS || host === LOCAL_HOST ? {} : { host };
}
