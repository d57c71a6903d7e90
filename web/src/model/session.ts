// Pure rules of a signed-in session: when to refresh the access token, how long a 429 asks
// us to wait, and who may see what. No clock of its own: "now" is passed in.

/** Refresh this long before the access token runs out, at most (seconds). */
export const REFRESH_LEAD_S = 60;
/** Never schedule a refresh sooner than this (a token with a tiny lifetime must not spin). */
export const MIN_REFRESH_DELAY_MS = 5_000;

/**
 * Milliseconds from now until the access token should be refreshed: shortly before it
 * expires, `REFRESH_LEAD_S` or a fifth of its lifetime ahead, whichever is shorter, so a
 * 15-minute token refreshes at 14 min and a 2-minute one at 96 s. `expiresAtMs` is when it
 * runs out; `lifetimeS` its whole lifetime (the login answer's `expires_in`).
 */
export function refreshDelayMs(expiresAtMs: number, lifetimeS: number, nowMs: number): number {
  const lead = Math.min(REFRESH_LEAD_S, Math.max(0, lifetimeS) / 5) * 1000;
  return Math.max(MIN_REFRESH_DELAY_MS, Math.round(expiresAtMs - lead - nowMs));
}

/** The token should be refreshed now: its refresh time has passed (a sleeping laptop, a throttled tab). */
export function refreshDue(expiresAtMs: number, lifetimeS: number, nowMs: number): boolean {
  const lead = Math.min(REFRESH_LEAD_S, Math.max(0, lifetimeS) / 5) * 1000;
  return nowMs >= expiresAtMs - lead;
}

/** After a failed refresh (network), try again after this long: 5, 10, 20 … s, capped at 60 s. */
export function refreshRetryMs(failures: number): number {
  return Math.min(60_000, 5_000 * 2 ** Math.max(0, failures - 1));
}

/** "1:05", "0:09": a countdown for "try again in …". */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export type Role = "viewer" | "operator" | "admin";
const RANK: Record<string, number> = { viewer: 1, operator: 2, admin: 3 };

/** `role` grants at least `min` (viewer < operator < admin); an unknown or missing role grants nothing. */
export function roleAtLeast(role: string | null | undefined, min: Role): boolean {
  return (RANK[role ?? ""] ?? 0) >= RANK[min]!;
}
