import type {
  CacheClearResult,
  Health,
  HistoryDeleteResult,
  HistoryResponse,
  Labels,
  SeriesList,
  StorageInfo,
  Summary,
  WhoAmI,
} from "./types";

/** An API failure, carrying the problem+json fields. `detail` is for people. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  /** The whole problem body (extension members such as `totp_required`); {} when there was none. */
  readonly body: Record<string, unknown>;
  /** Seconds from a Retry-After header (429, 503), else null. */
  readonly retryAfter: number | null;

  constructor(
    status: number,
    title: string,
    detail: string,
    type = "about:blank",
    extra: { body?: Record<string, unknown>; retryAfter?: number | null } = {},
  ) {
    super(detail || title);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = detail || title;
    this.type = type;
    this.body = extra.body ?? {};
    this.retryAfter = extra.retryAfter ?? null;
  }
}

export interface ApiClientOptions {
  /** "" for same origin, or e.g. "http://10.0.0.5:5099". */
  baseUrl: string;
  getToken: () => string | null;
  /** Called for every 401 (after the token was sent). */
  onUnauthorized?: (detail: string) => void;
  fetchImpl?: typeof fetch;
}

type Query = Record<string, string | number | undefined>;

export function normaliseBaseUrl(raw: string | undefined | null): string {
  return (raw ?? "").trim().replace(/\/+$/, "");
}

/** "cpu=total,device=sda" — the `labels` filter format of /api/v1/history. */
export function labelsParam(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

async function toApiError(res: Response): Promise<ApiError> {
  let title = res.statusText || `HTTP ${res.status}`;
  let detail = "";
  let type = "about:blank";
  let problem: Record<string, unknown> = {};
  try {
    const text = await res.text();
    if (text) {
      try {
        const body = JSON.parse(text) as Record<string, unknown>;
        if (body && typeof body === "object") problem = body;
        if (typeof body.title === "string") title = body.title;
        if (typeof body.detail === "string") detail = body.detail;
        else if (typeof body.detail !== "undefined") detail = JSON.stringify(body.detail);
        if (typeof body.type === "string") type = body.type;
      } catch {
        detail = text.slice(0, 300);
      }
    }
  } catch {
    /* body unreadable: keep the status line */
  }
  // Retry-After: delta-seconds or an HTTP date.
  const ra = res.headers?.get("Retry-After") ?? null;
  let retryAfter: number | null = null;
  if (ra !== null && ra.trim() !== "") {
    const n = Number(ra);
    const at = Date.parse(ra);
    retryAfter = Number.isFinite(n) ? Math.max(0, n) : Number.isFinite(at) ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : null;
  }
  return new ApiError(res.status, title, detail, type, { body: problem, retryAfter });
}

export class ApiClient {
  private readonly opts: ApiClientOptions;

  constructor(opts: ApiClientOptions) {
    this.opts = { ...opts, baseUrl: normaliseBaseUrl(opts.baseUrl) };
  }

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  url(path: string, query?: Query): string {
    let u = this.opts.baseUrl + path;
    if (query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
      const s = qs.toString();
      if (s) u += `?${s}`;
    }
    return u;
  }

  async request<T>(
    method: string,
    path: string,
    opts: {
      query?: Query;
      token?: string | null;
      signal?: AbortSignal;
      body?: unknown;
      /** How to read a 2xx answer: JSON (the default), text (configs) or a Blob (images). */
      as?: "json" | "text" | "blob";
    } = {},
  ): Promise<T> {
    const token = opts.token !== undefined ? opts.token : this.opts.getToken();
    const headers: Record<string, string> = { Accept: opts.as === undefined || opts.as === "json" ? "application/json" : "*/*" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const fetchImpl = this.opts.fetchImpl ?? fetch;
    let res: Response;
    try {
      res = await fetchImpl(this.url(path, opts.query), {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
        cache: "no-store",
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      const where = this.opts.baseUrl || "this origin";
      throw new ApiError(0, "Network error", `Cannot reach the Sentra node at ${where}.`);
    }
    if (!res.ok) {
      const err = await toApiError(res);
      if (res.status === 401 && opts.token === undefined) this.opts.onUnauthorized?.(err.detail);
      throw err;
    }
    if (res.status === 204) return undefined as T;
    if (opts.as === "text") return (await res.text()) as T;
    if (opts.as === "blob") return (await res.blob()) as T;
    return (await res.json()) as T;
  }

  health(signal?: AbortSignal): Promise<Health> {
    return this.request("GET", "/api/health", { signal, token: null });
  }

  /** Validate a token without touching the stored one or triggering sign-out. */
  whoami(token?: string): Promise<WhoAmI> {
    return this.request("GET", "/api/v1/whoami", token === undefined ? {} : { token });
  }

  summary(signal?: AbortSignal): Promise<Summary> {
    return this.request("GET", "/api/telemetry/summary", { signal });
  }

  series(q: string, limit = 200, signal?: AbortSignal): Promise<SeriesList> {
    return this.request("GET", "/api/v1/series", { query: { q, limit }, signal });
  }

  history(
    params: { name: string; labels?: Labels; from: number; to: number; limit?: number; granularity?: number },
    signal?: AbortSignal,
  ): Promise<HistoryResponse> {
    const labels = params.labels && Object.keys(params.labels).length ? labelsParam(params.labels) : undefined;
    return this.request("GET", "/api/v1/history", {
      query: {
        name: params.name,
        labels,
        from: Math.floor(params.from),
        to: Math.ceil(params.to),
        limit: params.limit ?? 500,
        granularity: params.granularity,
      },
      signal,
    });
  }

  deleteHistory(): Promise<HistoryDeleteResult> {
    return this.request("DELETE", "/api/v1/history");
  }

  storageInfo(signal?: AbortSignal): Promise<StorageInfo> {
    return this.request("GET", "/api/v1/storage/info", { signal });
  }

  clearCache(): Promise<CacheClearResult> {
    return this.request("POST", "/api/v1/storage/cache/clear");
  }
}
