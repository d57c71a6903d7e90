import { ApiError } from "../api/client";
import type { Summary } from "../api/types";

export type ConnectionState = "connecting" | "live" | "reconnecting" | "offline" | "paused";

/**
 * Where live summaries come from. Polling today; a WebSocket source can
 * implement the same interface later without touching the pages.
 */
export interface LiveSource {
  readonly state: ConnectionState;
  readonly lastError: string;
  /** The most recent summary, so a page opened later can render at once. */
  readonly latest: Summary | null;
  start(): void;
  stop(): void;
  subscribe(fn: (s: Summary) => void): () => void;
  onState(fn: (state: ConnectionState) => void): () => void;
}

export interface PollingOptions {
  intervalMs?: number;
  /** Consecutive failures after which the state reads "offline" (still retrying). */
  offlineAfter?: number;
  maxBackoffMs?: number;
  doc?: Document;
  win?: Window;
}

/** What every live source shares: its state, the latest summary and the listeners. */
export abstract class SourceBase {
  state: ConnectionState = "connecting";
  lastError = "";
  latest: Summary | null = null;
  private readonly summaryListeners = new Set<(s: Summary) => void>();
  private readonly stateListeners = new Set<(s: ConnectionState) => void>();

  subscribe(fn: (s: Summary) => void): () => void {
    this.summaryListeners.add(fn);
    return () => this.summaryListeners.delete(fn);
  }

  onState(fn: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  protected setState(s: ConnectionState): void {
    if (s === this.state) return;
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  protected emit(s: Summary): void {
    this.latest = s;
    for (const fn of this.summaryListeners) fn(s);
  }
}

/** Polls GET /api/telemetry/summary; pauses while the tab is hidden. */
export class PollingSource extends SourceBase implements LiveSource {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private abort: AbortController | null = null;
  private running = false;
  private failures = 0;
  private readonly intervalMs: number;
  private readonly offlineAfter: number;
  private readonly maxBackoffMs: number;
  private readonly doc: Document;
  private readonly win: Window;

  constructor(
    private readonly fetchSummary: (signal: AbortSignal) => Promise<Summary>,
    opts: PollingOptions = {},
  ) {
    super();
    this.intervalMs = opts.intervalMs ?? 1000;
    this.offlineAfter = opts.offlineAfter ?? 3;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.doc = opts.doc ?? document;
    this.win = opts.win ?? window;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.doc.addEventListener("visibilitychange", this.onVisibility);
    this.win.addEventListener("online", this.onOnline);
    if (this.doc.visibilityState === "hidden") this.setState("paused");
    else this.poll();
  }

  stop(): void {
    this.running = false;
    this.doc.removeEventListener("visibilitychange", this.onVisibility);
    this.win.removeEventListener("online", this.onOnline);
    this.cancel();
  }

  private cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
    this.abort = null;
  }

  private readonly onVisibility = (): void => {
    if (!this.running) return;
    if (this.doc.visibilityState === "hidden") {
      this.cancel();
      this.setState("paused");
    } else {
      this.cancel();
      this.poll();
    }
  };

  private readonly onOnline = (): void => {
    if (!this.running || this.doc.visibilityState === "hidden") return;
    this.cancel();
    this.poll();
  };

  private schedule(ms: number): void {
    if (!this.running || this.doc.visibilityState === "hidden") return;
    this.timer = setTimeout(() => this.poll(), ms);
  }

  private poll(): void {
    this.timer = null;
    const ac = new AbortController();
    this.abort = ac;
    const started = Date.now();
    this.fetchSummary(ac.signal).then(
      (s) => {
        if (ac.signal.aborted || !this.running) return;
        this.abort = null;
        this.failures = 0;
        this.lastError = "";
        this.latest = s;
        this.setState("live");
        this.emit(s);
        this.schedule(Math.max(0, this.intervalMs - (Date.now() - started)));
      },
      (err: unknown) => {
        if (ac.signal.aborted || !this.running) return;
        this.abort = null;
        if (err instanceof ApiError && err.status === 401) {
          // The client has already sent the user to sign-in; retrying is pointless.
          this.stop();
          return;
        }
        this.failures++;
        this.lastError = err instanceof Error ? err.message : String(err);
        const offline = this.failures >= this.offlineAfter || this.win.navigator.onLine === false;
        this.setState(offline ? "offline" : "reconnecting");
        const backoff = Math.min(this.maxBackoffMs, this.intervalMs * 2 ** (this.failures - 1));
        this.schedule(backoff);
      },
    );
  }
}
