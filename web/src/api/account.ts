// Accounts, API tokens and the audit log (/api/v1/auth…, /api/v1/users, /api/v1/tokens,
// /api/v1/audit): types and typed calls. The shapes are the accounts API contract agreed
// with the backend; fields marked optional are read defensively (an older or newer node).
import { ApiClient } from "./client";
import type { SessionAnswer } from "../auth/token";

export interface AccountUser {
  name: string;
  role: string;
  totp_enabled: boolean;
}

/** POST /api/v1/auth/login and /link (and /refresh). */
export interface LoginAnswer extends SessionAnswer {
  token_type: string;
  user: AccountUser;
  /** A link sign-in: the account has no password yet. */
  must_set_password?: boolean;
}

/** GET /api/v1/auth/me: who the current bearer is. */
export interface Me {
  name: string;
  role: string;
  kind: "user" | "token";
  totp_enabled: boolean;
}

export interface TotpSetup {
  secret: string;
  otpauth_uri: string;
  /** A QR of the URI as SVG, when the node renders one. */
  qr_svg?: string;
}

export interface User {
  name: string;
  role: string;
  disabled: boolean;
  /** False for an account made with a sign-in link that has not set one yet. */
  has_password?: boolean;
  totp_enabled: boolean;
  created_at?: number | null;
  updated_at?: number | null;
}

export interface ApiToken {
  id: string | number;
  name: string;
  role: string;
  created_at?: number | null;
  last_used_at?: number | null;
}

export interface AuditEntry {
  id: number;
  ts: number;
  /** "alice", "token:ci" … */
  actor: string;
  /** "user" | "token" | "anonymous" … */
  kind: string;
  role: string;
  method: string;
  path: string;
  status: number;
  ip: string;
  detail: string;
}

/** Sign-in calls send no bearer: a 401 there means "wrong password", not "session ended". */
const NO_BEARER = { token: null } as const;

export function login(
  api: ApiClient,
  body: { username: string; password: string; totp?: string },
): Promise<LoginAnswer> {
  return api.request("POST", "/api/v1/auth/login", { ...NO_BEARER, body });
}

export function linkSignIn(api: ApiClient, code: string): Promise<LoginAnswer> {
  return api.request("POST", "/api/v1/auth/link", { ...NO_BEARER, body: { code } });
}

/**
 * `current` is "" right after a link sign-in. `token` overrides the stored bearer (before it
 * is stored). The node ends every sign-in of the user and answers a fresh one for this tab.
 */
export function setPassword(api: ApiClient, current: string, next: string, token?: string): Promise<LoginAnswer> {
  return api.request("POST", "/api/v1/auth/password", { body: { current, new: next }, ...(token ? { token } : {}) });
}

export function getMe(api: ApiClient, signal?: AbortSignal): Promise<Me> {
  return api.request("GET", "/api/v1/auth/me", { signal });
}

export function totpSetup(api: ApiClient): Promise<TotpSetup> {
  return api.request("POST", "/api/v1/auth/totp/setup");
}

export function totpEnable(api: ApiClient, code: string): Promise<unknown> {
  return api.request("POST", "/api/v1/auth/totp/enable", { body: { code } });
}

export function totpDisable(api: ApiClient, code: string): Promise<unknown> {
  return api.request("POST", "/api/v1/auth/totp/disable", { body: { code } });
}

// ---- users (admin) ------------------------------------------------------------------------

const userPath = (name: string) => `/api/v1/users/${encodeURIComponent(name)}`;

export function listUsers(api: ApiClient, signal?: AbortSignal): Promise<{ users: User[] }> {
  return api.request("GET", "/api/v1/users", { signal });
}

export function createUser(api: ApiClient, body: { name: string; role: string; password: string }): Promise<unknown> {
  return api.request("POST", "/api/v1/users", { body });
}

/** Change a role, disable / enable, or set a new password. */
export function updateUser(
  api: ApiClient,
  name: string,
  patch: { role?: string; disabled?: boolean; password?: string },
): Promise<unknown> {
  return api.request("PATCH", userPath(name), { body: patch });
}

export function deleteUser(api: ApiClient, name: string): Promise<void> {
  return api.request("DELETE", userPath(name));
}

// ---- API tokens (admin) -------------------------------------------------------------------

export function listTokens(api: ApiClient, signal?: AbortSignal): Promise<{ tokens: ApiToken[] }> {
  return api.request("GET", "/api/v1/tokens", { signal });
}

/** The created token's secret, whichever member the node puts it in (`token`, `secret`, `value`). */
export function tokenSecret(answer: unknown): string {
  const a = (answer ?? {}) as Record<string, unknown>;
  for (const k of ["token", "secret", "value"]) if (typeof a[k] === "string" && a[k]) return a[k];
  const inner = a.token as Record<string, unknown> | undefined;
  if (inner && typeof inner === "object") return tokenSecret({ secret: inner.secret, value: inner.value });
  return "";
}

/** Answers `{id, name, role, token}`: the only time the secret is shown. */
export function createToken(api: ApiClient, body: { name: string; role: string }): Promise<Record<string, unknown>> {
  return api.request("POST", "/api/v1/tokens", { body });
}

export function deleteToken(api: ApiClient, id: string | number): Promise<void> {
  return api.request("DELETE", `/api/v1/tokens/${encodeURIComponent(String(id))}`);
}

// ---- audit (admin) ------------------------------------------------------------------------

export interface AuditQuery {
  limit?: number;
  beforeId?: number;
  actor?: string;
  path?: string;
}

/** One entry as the node sends it: `kind`/`ip` as agreed, or `actor_kind`/`client` as the node names them now. */
type WireAuditEntry = Omit<AuditEntry, "kind" | "ip"> & { kind?: string; actor_kind?: string; ip?: string; client?: string };

export function normaliseAuditEntry(e: WireAuditEntry): AuditEntry {
  const { actor_kind, client, ...rest } = e;
  return { ...rest, kind: e.kind ?? actor_kind ?? "", ip: e.ip ?? client ?? "" };
}

/** Newest first; `beforeId` pages back. Empty filters are not sent. */
export async function listAudit(api: ApiClient, q: AuditQuery = {}, signal?: AbortSignal): Promise<{ entries: AuditEntry[] }> {
  const r = await api.request<{ entries: WireAuditEntry[] }>("GET", "/api/v1/audit", {
    query: { limit: q.limit ?? 100, before_id: q.beforeId, actor: q.actor || undefined, path: q.path || undefined },
    signal,
  });
  return { entries: r.entries.map(normaliseAuditEntry) };
}
