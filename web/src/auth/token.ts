// Token handling: kept in sessionStorage for the browser session only.
// The node prints http://host:port/#token=XYZ at first start; the fragment
// is read once, stored, and stripped from the URL so it is not bookmarked.
// An account sign-in (password, or a #signin=<code> link) yields a short-lived access
// token, kept the same way, plus an HttpOnly refresh cookie the script never sees;
// SessionKeeper (below) refreshes the access token before it runs out and once on a 401.
// docs/dashboard.md ("Sign-in and sessions") explains why sessionStorage.

import { refreshDelayMs, refreshDue, refreshRetryMs } from "../model/session";

const KEY = "sentra.token";
const META_KEY = "sentra.token.meta";

/** Read `name` from a URL fragment such as "#token=abc" or "#a=1&signin=abc" (trimmed; null when empty). */
export function parseFragmentParam(hash: string, name: string): string | null {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  if (!raw) return null;
  const value = new URLSearchParams(raw).get(name);
  if (value === null) return null;
  const trimmed = value.trim();
  return trimmed.length > 0 ? trimmed : null;
}

/** The fragment without `name` ("" when nothing else was there). */
export function stripFragmentParam(hash: string, name: string): string {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  const params = new URLSearchParams(raw);
  params.delete(name);
  const rest = params.toString();
  return rest ? `#${rest}` : "";
}

/** Extract a token from a URL fragment such as "#token=abc" or "#a=1&token=abc". */
export function parseTokenFragment(hash: string): string | null {
  return parseFragmentParam(hash, "token");
}

/** The fragment with the token removed ("" when nothing else was there). */
export function stripTokenFragment(hash: string): string {
  return stripFragmentParam(hash, "token");
}

/** What kind of bearer the store holds: a pasted API token, or an account's access token. */
export interface TokenMeta {
  kind: "session";
  /** When the access token runs out (ms since the epoch, the browser's clock). */
  expiresAt: number;
  /** Its whole lifetime in seconds (`expires_in` of the answer that brought it). */
  lifetime: number;
}

export interface TokenStore {
  get(): string | null;
  /** Without `meta` the token is an API token (never refreshed). */
  set(token: string, meta?: TokenMeta): void;
  clear(): void;
  /** Set for an account's access token, null for an API token or none. */
  meta(): TokenMeta | null;
}

export function sessionTokenStore(storage: Storage = window.sessionStorage): TokenStore {
  const read = (key: string) => {
    try {
      return storage.getItem(key);
    } catch {
      return null;
    }
  };
  return {
    get: () => read(KEY),
    set: (token, meta) => {
      storage.setItem(KEY, token);
      if (meta) storage.setItem(META_KEY, JSON.stringify(meta));
      else storage.removeItem(META_KEY);
    },
    clear: () => {
      storage.removeItem(KEY);
      storage.removeItem(META_KEY);
    },
    meta: () => {
      const raw = read(META_KEY);
      if (!raw) return null;
      try {
        const m = JSON.parse(raw) as Partial<TokenMeta>;
        return m.kind === "session" && typeof m.expiresAt === "number" && typeof m.lifetime === "number"
          ? { kind: "session", expiresAt: m.expiresAt, lifetime: m.lifetime }
          : null;
      } catch {
        return null;
      }
    },
  };
}

/**
 * If the current URL carries #token=…, store it and replace the URL without
 * the fragment (no new history entry). Returns true when a token was taken.
 */
export function adoptTokenFromLocation(
  store: TokenStore,
  loc: Location = window.location,
  hist: History = window.history,
): boolean {
  const token = parseTokenFragment(loc.hash);
  if (!token) return false;
  store.set(token);
  hist.replaceState(hist.state, "", loc.pathname + loc.search + stripTokenFragment(loc.hash));
  return true;
}

/**
 * If the URL carries #signin=<code> (printed by the node's first start), strip it and answer
 * the code. The code is one-time: it is kept in memory only, never stored.
 */
export function takeSigninCode(loc: Location = window.location, hist: History = window.history): string | null {
  const code = parseFragmentParam(loc.hash, "signin");
  if (!code) return null;
  hist.replaceState(hist.state, "", loc.pathname + loc.search + stripFragmentParam(loc.hash, "signin"));
  return code;
}

/** The part of a login / link / refresh answer the keeper needs. */
export interface SessionAnswer {
  access_token: string;
  expires_in: number;
}

type Timer = ReturnType<typeof setTimeout>;

export interface SessionKeeperOptions {
  store: TokenStore;
  /** "" for same origin (the refresh cookie is same-origin only). */
  baseUrl: string;
  /** Defaults to the global fetch, read at call time (tests stub it). */
  fetchImpl?: typeof fetch;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => Timer;
  clearTimer?: (t: Timer) => void;
}

const NO_RETRY = /\/api\/v1\/auth\/(login|link|refresh|logout)(\?|$)/;

function bearerOf(headers: HeadersInit | undefined): string | null {
  if (!headers) return null;
  const value = new Headers(headers).get("Authorization");
  return value && value.startsWith("Bearer ") ? value.slice(7) : null;
}

/**
 * Keeps an account's access token fresh: refreshes it (POST /api/v1/auth/refresh, the
 * HttpOnly cookie only) shortly before it runs out, and once when a request answers 401,
 * then repeats that request with the new token. API tokens are left alone. `fetch` is the
 * ApiClient's fetch; `token()` is what every consumer (the client, the live sockets) reads,
 * so a reconnecting WebSocket always gets the current token.
 */
export class SessionKeeper {
  private timer: Timer | null = null;
  private inFlight: Promise<string | null> | null = null;
  private failures = 0;
  /** The token the last refresh replaced: a request still carrying it is repeated, not refreshed again. */
  private replaced: string | null = null;
  private readonly o: Required<Omit<SessionKeeperOptions, "fetchImpl">> & { fetchImpl?: typeof fetch };

  constructor(opts: SessionKeeperOptions) {
    this.o = {
      now: () => Date.now(),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (t) => clearTimeout(t),
      ...opts,
    };
  }

  /** The fetch to use; the global one is called as a plain function (a method call on this object throws "Illegal invocation"). */
  private get f(): typeof fetch {
    return this.o.fetchImpl ?? ((input, init) => fetch(input, init));
  }

  /** Store an account sign-in's access token and schedule its refresh. */
  adopt(answer: SessionAnswer): void {
    const lifetime = Math.max(0, Number(answer.expires_in) || 0);
    const meta: TokenMeta = { kind: "session", expiresAt: this.o.now() + lifetime * 1000, lifetime };
    const old = this.o.store.get();
    if (old && old !== answer.access_token) this.replaced = old;
    this.o.store.set(answer.access_token, meta);
    this.failures = 0;
    this.schedule(refreshDelayMs(meta.expiresAt, meta.lifetime, this.o.now()));
  }

  /** The current bearer; for an access token past its refresh time, a refresh starts (not awaited). */
  token(): string | null {
    const meta = this.o.store.meta();
    if (meta && refreshDue(meta.expiresAt, meta.lifetime, this.o.now()) && !this.inFlight) void this.refresh();
    return this.o.store.get();
  }

  /** After a reload: schedule the stored access token's refresh (at once when it is due). */
  resume(): void {
    const meta = this.o.store.meta();
    if (!meta || !this.o.store.get()) return;
    if (refreshDue(meta.expiresAt, meta.lifetime, this.o.now())) void this.refresh();
    else this.schedule(refreshDelayMs(meta.expiresAt, meta.lifetime, this.o.now()));
  }

  /** A sign-in from the refresh cookie alone (a new tab): the answer (not adopted yet), or null without a valid cookie. */
  fromCookie(): Promise<SessionAnswer | null> {
    return this.post("/api/v1/auth/refresh").catch(() => null);
  }

  /**
   * Refresh now (one at a time: concurrent callers share the call). Answers the new token,
   * or null when the node refused (the cookie is gone or revoked) or could not be reached
   * (then it retries with back-off while the token is still valid).
   */
  refresh(): Promise<string | null> {
    this.inFlight ??= (async () => {
      try {
        const answer = await this.post("/api/v1/auth/refresh");
        if (!answer) {
          this.cancel();
          return null;
        }
        this.adopt(answer);
        return answer.access_token;
      } catch {
        this.failures++;
        const meta = this.o.store.meta();
        if (meta && meta.expiresAt > this.o.now()) this.schedule(refreshRetryMs(this.failures));
        return null;
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }

  /** Stop refreshing, tell the node (best effort: it drops the refresh cookie) and forget the token. */
  async end(): Promise<void> {
    this.cancel();
    const token = this.o.store.get();
    const wasSession = this.o.store.meta() !== null;
    this.o.store.clear();
    this.replaced = null;
    if (!wasSession) return;
    try {
      await this.f(this.o.baseUrl + "/api/v1/auth/logout", {
        method: "POST",
        credentials: "same-origin",
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
    } catch {
      /* offline: the cookie expires by itself */
    }
  }

  /** The ApiClient's fetch: cookies same-origin, and one refresh-and-repeat on a 401 of an access token. */
  readonly fetch: typeof fetch = async (input, init = {}) => {
    const res = await this.f(input, { credentials: "same-origin", ...init });
    if (res.status !== 401 || this.o.store.meta() === null || NO_RETRY.test(String(input))) return res;
    const sent = bearerOf(init.headers);
    const current = this.o.store.get();
    let fresh: string | null = null;
    if (sent !== null && sent === current) fresh = await this.refresh();
    else if (sent !== null && sent === this.replaced) fresh = current; // refreshed meanwhile
    if (!fresh) return res;
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${fresh}`);
    return this.f(input, { credentials: "same-origin", ...init, headers });
  };

  private cancel(): void {
    if (this.timer !== null) this.o.clearTimer(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    this.cancel();
    this.timer = this.o.setTimer(() => {
      this.timer = null;
      void this.refresh();
    }, ms);
  }

  /**
   * POST to an auth endpoint with the cookie only: the answer, null on a 4xx; throws when
   * unreachable or on 5xx. The node rotates the refresh cookie on every use and ends the
   * sign-in when a spent one comes back, so tabs of this origin take turns (Web Locks): the
   * second one sends the cookie the first one just got.
   */
  private async post(path: string): Promise<SessionAnswer | null> {
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    if (!locks) return this.postNow(path);
    // (lib.dom types request() as Promise<callback's return>; it resolves to the awaited value)
    const answer: unknown = await locks.request("sentra.auth.refresh", () => this.postNow(path));
    return answer as SessionAnswer | null;
  }

  private async postNow(path: string): Promise<SessionAnswer | null> {
    const res = await this.f(this.o.baseUrl + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (res.status >= 500) throw new Error(`refresh: HTTP ${res.status}`);
    if (!res.ok) return null;
    const body = (await res.json()) as Partial<SessionAnswer>;
    return typeof body.access_token === "string" ? { access_token: body.access_token, expires_in: Number(body.expires_in) || 0 } : null;
  }
}
