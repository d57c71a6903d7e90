import type { CollectorStatus, MetricPoint, Summary } from "../api/types";
import { type LiveSource, SourceBase } from "./source";

/** One item of a live frame (see docs/live.md); only what the overview reads. */
interface FrameItem {
  kind: string;
  source: string;
  ts: number;
  samples?: { name: string; labels: Record<string, string>; value: number | null; ts: number }[];
  state?: string;
  message?: string;
  duration_ms?: number;
}

interface LiveMessage {
  type: string;
  dropped?: number;
  items?: FrameItem[];
}

type SocketLike = Pick<WebSocket, "close" | "readyState"> & {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
};

export interface WebSocketOptions {
  /** Absolute ws:// or wss:// URL of /api/v1/live, filters included, token excluded. */
  url: string;
  getToken: () => string | null;
  /** The full summary over HTTP: hostname and the notice flags, and a first render. */
  fetchSummary: (signal: AbortSignal) => Promise<Summary>;
  /** Used once the socket has failed `fallbackAfter` times in a row without a frame. */
  fallback: () => LiveSource;
  fallbackAfter?: number;
  offlineAfter?: number;
  maxBackoffMs?: number;
  baseBackoffMs?: number;
  makeSocket?: (url: string) => SocketLike;
}

/** The overview's subscription: collector metrics and collector status. */
export const OVERVIEW_QUERY = "kinds=metrics,status&source=collect";

/** ws(s)://host/api/v1/live?… for an API base ("" = same origin). */
export function liveUrl(apiBase: string, query: string, loc: Location = window.location): string {
  const base = apiBase || `${loc.protocol}//${loc.host}`;
  return `${base.replace(/^http/, "ws").replace(/\/$/, "")}/api/v1/live?${query}`;
}

/**
 * Live summaries from the node's WebSocket stream (`/api/v1/live`).
 *
 * Frames carry per-collector ticks and statuses; the summary shape the pages use is
 * rebuilt from them (latest tick per collector). Reconnects with back-off; when the socket
 * cannot be used (proxy, old server) it hands over to the fallback (polling).
 */
export class WebSocketSource extends SourceBase implements LiveSource {
  /** Frames the node dropped for this client (it was too slow), summed. */
  dropped = 0;
  /** "websocket", or "polling" once it has fallen back. */
  mode: "websocket" | "polling" = "websocket";
  private readonly bySource = new Map<string, FrameItem>();
  private readonly collectors: Record<string, CollectorStatus> = {};
  private seed: Summary | null = null;
  private socket: SocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private abort: AbortController | null = null;
  private running = false;
  private failures = 0;
  private fallbackSource: LiveSource | null = null;
  private readonly unlisten: (() => void)[] = [];
  private readonly opts: Required<Omit<WebSocketOptions, "makeSocket">> & {
    makeSocket: (url: string) => SocketLike;
  };

  constructor(opts: WebSocketOptions) {
    super();
    this.opts = {
      fallbackAfter: 3,
      offlineAfter: 3,
      maxBackoffMs: 10_000,
      baseBackoffMs: 1000,
      makeSocket: (url) => new WebSocket(url),
      ...opts,
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.fallbackSource) {
      this.fallbackSource.start();
      return;
    }
    this.loadSeed();
    this.connect();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
    this.abort = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = s.onmessage = s.onerror = s.onopen = null;
      s.close(1000, "bye");
    }
    this.fallbackSource?.stop();
  }

  private loadSeed(): void {
    const ac = new AbortController();
    this.abort = ac;
    this.opts.fetchSummary(ac.signal).then(
      (s) => {
        if (ac.signal.aborted || !this.running) return;
        this.seed = s;
        Object.assign(this.collectors, { ...s.collectors, ...this.collectors });
        if (this.bySource.size === 0) this.emit(s);
      },
      () => {
        /* the socket may still work; the polling fallback reports HTTP errors */
      },
    );
  }

  private connect(): void {
    this.timer = null;
    const token = this.opts.getToken();
    const sep = this.opts.url.includes("?") ? "&" : "?";
    const url = token ? `${this.opts.url}${sep}access_token=${encodeURIComponent(token)}` : this.opts.url;
    let socket: SocketLike;
    try {
      socket = this.opts.makeSocket(url);
    } catch (err) {
      this.failed(err instanceof Error ? err.message : String(err));
      return;
    }
    this.socket = socket;
    let gotMessage = false;
    socket.onmessage = (ev: MessageEvent) => {
      if (this.socket !== socket) return;
      let msg: LiveMessage;
      try {
        msg = JSON.parse(String(ev.data)) as LiveMessage;
      } catch {
        return;
      }
      if (!gotMessage) {
        gotMessage = true;
        this.failures = 0;
        this.lastError = "";
        this.setState("live");
      }
      if (msg.type === "frame") this.applyFrame(msg);
    };
    socket.onerror = () => {
      /* followed by onclose */
    };
    socket.onclose = (ev: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      const why = ev.reason ? `${ev.code} ${ev.reason}` : `connection closed (${ev.code})`;
      if (gotMessage) {
        // It worked before: reconnect soon, counting from one.
        this.failures = 0;
      }
      if (ev.code === 1008) {
        // Policy: the token was refused or revoked. Ask over HTTP, whose 401 handling
        // signs the user out (the page then stops this source).
        this.opts.fetchSummary(new AbortController().signal).catch(() => undefined);
      }
      this.failed(why);
    };
  }

  private failed(why: string): void {
    if (!this.running) return;
    this.failures++;
    this.lastError = why;
    if (this.failures >= this.opts.fallbackAfter) {
      this.useFallback();
      return;
    }
    const offline = this.failures >= this.opts.offlineAfter || navigator.onLine === false;
    this.setState(offline ? "offline" : "reconnecting");
    const backoff = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** (this.failures - 1));
    this.timer = setTimeout(() => this.connect(), backoff);
  }

  private useFallback(): void {
    const fb = this.opts.fallback();
    this.fallbackSource = fb;
    this.mode = "polling";
    this.unlisten.push(
      fb.subscribe((s) => this.emit(s)),
      fb.onState((s) => {
        this.lastError = fb.lastError;
        this.setState(s);
      }),
    );
    fb.start();
  }

  private applyFrame(msg: LiveMessage): void {
    this.dropped += msg.dropped ?? 0;
    let changed = false;
    for (const item of msg.items ?? []) {
      if (item.kind === "metrics" && item.samples) {
        this.bySource.set(item.source, item);
        changed = true;
      } else if (item.kind === "status") {
        this.collectors[item.source] = {
          state: item.state ?? "",
          message: item.message ?? "",
          ts: item.ts,
          duration_ms: item.duration_ms ?? null,
        };
        changed = true;
      }
    }
    if (changed) this.emit(this.summary());
  }

  /** The summary shape of GET /api/telemetry/summary, from the latest tick per source. */
  summary(): Summary {
    const live: Record<string, MetricPoint[]> = {};
    let ts = 0;
    for (const item of this.bySource.values()) {
      ts = Math.max(ts, item.ts);
      for (const s of item.samples ?? []) {
        (live[s.name] ??= []).push({ labels: s.labels, value: s.value, ts: s.ts });
      }
    }
    const seed = this.seed;
    const metrics: Record<string, MetricPoint[]> = {};
    if (seed) for (const [name, points] of Object.entries(seed.metrics)) if (!(name in live)) metrics[name] = points;
    Object.assign(metrics, live);
    const collectors: Record<string, CollectorStatus> = {};
    for (const name of Object.keys(this.collectors).sort()) collectors[name] = this.collectors[name]!;
    return {
      ts: ts || seed?.ts || 0,
      hostname: seed?.hostname ?? "",
      previous_run_unclean: seed?.previous_run_unclean ?? false,
      collectors,
      metrics,
    };
  }
}
