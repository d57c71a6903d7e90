// Rollout decisions and state changes from the live WebSocket (`kinds=decisions`).
// The rollout pages use it as a trigger to refetch; they poll when it is not live.
import type { Decision, RolloutSummary } from "../api/rollouts";

/** The rollout pages' subscription. */
export const DECISIONS_QUERY = "kinds=decisions";

/** An item of kind "decisions" (see docs/live.md): a Decision or, on rollout.state.*, a RolloutSummary. */
export interface DecisionItem {
  kind: "decisions";
  /** "rollout.decision.<name>" or "rollout.state.<name>". */
  topic: string;
  source: string;
  ts: number;
  data?: Decision | RolloutSummary;
}

type SocketLike = Pick<WebSocket, "close"> & {
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
};

export interface DecisionFeedOptions {
  /** Absolute ws(s):// URL of /api/v1/live with DECISIONS_QUERY, token excluded. */
  url: string;
  getToken: () => string | null;
  /** The live kind whose items are handed on (default "decisions"; the Alerts page: "alerts"). */
  kind?: string;
  makeSocket?: (url: string) => SocketLike;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/** The rollout a live item is about ("" when it names none). */
export function itemRollout(item: DecisionItem): string {
  const data = item.data as Partial<Decision & RolloutSummary> | undefined;
  if (data && typeof data.rollout === "string" && data.rollout) return data.rollout;
  const m = /^rollout\.(?:decision|state)\.(.+)$/.exec(item.topic);
  if (m) return m[1]!;
  return data && typeof data.name === "string" ? data.name : "";
}

/** A RolloutSummary carried by a rollout.state.* item, else null. */
export function itemSummary(item: DecisionItem): RolloutSummary | null {
  if (!item.topic.startsWith("rollout.state.") || !item.data) return null;
  const d = item.data as Partial<RolloutSummary>;
  return typeof d.name === "string" && typeof d.phase === "string" ? (d as RolloutSummary) : null;
}

/**
 * One WebSocket on /api/v1/live?kinds=decisions. Calls `onItems` with every frame's
 * decision items and `onLive(true|false)` as the socket comes and goes (a frame the node
 * dropped for us also reports as a gap: the page refetches). Reconnects with back-off.
 */
export class DecisionFeed {
  live = false;
  private socket: SocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private failures = 0;
  private readonly opts: Required<DecisionFeedOptions>;

  constructor(
    opts: DecisionFeedOptions,
    private readonly onItems: (items: DecisionItem[], gap: boolean) => void,
    private readonly onLive: (live: boolean) => void = () => undefined,
  ) {
    this.opts = {
      baseBackoffMs: 1000,
      maxBackoffMs: 10_000,
      kind: "decisions",
      makeSocket: (url) => new WebSocket(url),
      ...opts,
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = s.onmessage = s.onerror = null;
      s.close(1000, "bye");
    }
    this.setLive(false);
  }

  private setLive(live: boolean): void {
    if (live === this.live) return;
    this.live = live;
    this.onLive(live);
  }

  private connect(): void {
    this.timer = null;
    const token = this.opts.getToken();
    const sep = this.opts.url.includes("?") ? "&" : "?";
    const url = token ? `${this.opts.url}${sep}access_token=${encodeURIComponent(token)}` : this.opts.url;
    let socket: SocketLike;
    try {
      socket = this.opts.makeSocket(url);
    } catch {
      this.failed();
      return;
    }
    this.socket = socket;
    socket.onmessage = (ev: MessageEvent) => {
      if (this.socket !== socket) return;
      let msg: { type?: string; dropped?: number; items?: DecisionItem[] };
      try {
        msg = JSON.parse(String(ev.data)) as typeof msg;
      } catch {
        return;
      }
      if (!this.live) {
        this.failures = 0;
        this.setLive(true);
        // Whatever happened while we were away: refetch once.
        if (msg.type !== "frame") this.onItems([], true);
      }
      if (msg.type !== "frame") return;
      const items = (msg.items ?? []).filter((i) => (i.kind as string) === this.opts.kind);
      const gap = (msg.dropped ?? 0) > 0;
      if (items.length || gap) this.onItems(items, gap);
    };
    socket.onerror = () => {
      /* followed by onclose */
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.live) this.failures = 0;
      this.setLive(false);
      this.failed();
    };
  }

  private failed(): void {
    if (!this.running) return;
    this.failures++;
    const backoff = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** (this.failures - 1));
    this.timer = setTimeout(() => this.connect(), backoff);
  }
}

/**
 * Run `fn` now, or once more after the run in flight when asked while busy: bursts of
 * live items collapse into at most two fetches, and a slow answer never overlaps a new one.
 */
export function coalesce(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn().catch(() => undefined);
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
  return run;
}
