// The WireGuard manager's API (/api/v1/wg/…): types and typed calls. Times are unix seconds,
// byte counts are bytes and rates bytes per second, as everywhere in the API.
import { ApiClient } from "./client";

export interface WgInterface {
  name: string;
  addresses: string[];
  listen_port: number | null;
  dns: string[];
  mtu: number | null;
  endpoint: string;
  public_key: string;
  /** The number of peers. */
  peers: number;
  up: boolean;
  /** Why the last apply failed ("" when it did not). */
  apply_error?: string;
}

/** A peer's live counters (from `wg show`); `latest_handshake` 0/null = never. */
export interface PeerStatus {
  online: boolean;
  endpoint: string | null;
  latest_handshake: number | null;
  rx_bytes?: number | null;
  tx_bytes?: number | null;
  rx_total: number | null;
  tx_total: number | null;
  rx_rate: number | null;
  tx_rate: number | null;
}

export interface Peer {
  id: string;
  interface: string;
  name: string;
  public_key: string;
  addresses: string[];
  allowed_ips: string[];
  extra_routes: string[];
  enabled: boolean;
  expires_at: number | null;
  created_at: number;
  has_preshared_key: boolean;
  /** False when the client made its key pair: the node has no config (nor QR) to give. */
  has_private_key?: boolean;
  expired?: boolean;
  status: PeerStatus | null;
}

/** GET /api/v1/wg/status: just the counters, cheap to poll. */
export interface WgStatus {
  ts: number;
  interfaces: { name: string; peers: (PeerStatus & { id: string })[] }[];
}

export interface NewPeer {
  interface: string;
  name: string;
  public_key?: string;
  allowed_ips?: string[];
  expires_at?: number;
  preshared_key?: boolean;
}

const peerPath = (id: string) => `/api/v1/wg/peers/${encodeURIComponent(id)}`;

export function listInterfaces(api: ApiClient, signal?: AbortSignal): Promise<{ interfaces: WgInterface[] }> {
  return api.request("GET", "/api/v1/wg/interfaces", { signal });
}

export function listPeers(api: ApiClient, iface: string, signal?: AbortSignal): Promise<{ peers: Peer[] }> {
  return api.request("GET", "/api/v1/wg/peers", { query: { interface: iface }, signal });
}

export function wgStatus(api: ApiClient, signal?: AbortSignal): Promise<WgStatus> {
  return api.request("GET", "/api/v1/wg/status", { signal });
}

/** Answers the peer and its client config (null when the client sent its own public key). */
export function createPeer(api: ApiClient, body: NewPeer): Promise<{ peer: Peer; config: string | null }> {
  return api.request("POST", "/api/v1/wg/peers", { body });
}

export function setPeerEnabled(api: ApiClient, id: string, enabled: boolean): Promise<unknown> {
  return api.request("POST", `${peerPath(id)}/${enabled ? "enable" : "disable"}`);
}

export function deletePeer(api: ApiClient, id: string): Promise<void> {
  return api.request("DELETE", peerPath(id));
}

/** The config as a QR code (SVG text). It needs the bearer token, so it is fetched, not linked. */
export function peerQr(api: ApiClient, id: string, signal?: AbortSignal): Promise<string> {
  return api.request("GET", `${peerPath(id)}/qr.svg`, { as: "text", signal });
}

export function peerConfig(api: ApiClient, id: string, signal?: AbortSignal): Promise<string> {
  return api.request("GET", `${peerPath(id)}/config`, { as: "text", signal });
}

/** A one-time download link of the config, valid `ttlS` seconds. */
export function peerLink(api: ApiClient, id: string, ttlS: number): Promise<{ url: string; expires_at: number }> {
  return api.request("POST", `${peerPath(id)}/link`, { body: { ttl_s: ttlS } });
}
