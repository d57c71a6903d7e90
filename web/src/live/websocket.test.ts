import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Summary } from "../api/types";
import type { ConnectionState, LiveSource } from "./source";
import { liveUrl, WebSocketSource } from "./websocket";

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closed: [number | undefined, string | undefined] | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  close(code?: number, reason?: string) {
    this.closed = [code, reason];
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) } as MessageEvent);
  }
  drop(code = 1006, reason = "") {
    this.onclose?.({ code, reason } as CloseEvent);
  }
}

const seed: Summary = {
  ts: 10,
  hostname: "box",
  previous_run_unclean: true,
  collectors: { "host.gpu": { state: "absent", message: "no NVML" } },
  metrics: { "system.uptime": [{ labels: {}, value: 5, ts: 10 }] },
};

const frame = (items: unknown[], dropped = 0) => ({ type: "frame", seq: 1, ts: 11, dropped, items });
const cpu = (ts: number, value: number) => ({
  kind: "metrics",
  topic: "metrics.collect.host.cpu",
  source: "host.cpu",
  ts,
  samples: [{ name: "system.cpu.utilization", labels: { cpu: "total" }, value, ts }],
});

function make(extra: Partial<ConstructorParameters<typeof WebSocketSource>[0]> = {}) {
  return new WebSocketSource({
    url: "ws://node/api/v1/live?kinds=metrics,status&source=collect",
    getToken: () => "tok en",
    fetchSummary: async () => seed,
    fallback: () => {
      throw new Error("no fallback expected");
    },
    makeSocket: (url) => new FakeSocket(url),
    ...extra,
  });
}

describe("liveUrl", () => {
  it("turns the API base into a ws(s) URL", () => {
    expect(liveUrl("https://n:5099/", "a=1")).toBe("wss://n:5099/api/v1/live?a=1");
    expect(liveUrl("", "a=1", { protocol: "http:", host: "h:1" } as Location)).toBe("ws://h:1/api/v1/live?a=1");
  });
});

describe("WebSocketSource", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
  });
  afterEach(() => vi.useRealTimers());

  it("connects with the token in the query and rebuilds the summary from frames", async () => {
    const src = make();
    const got: Summary[] = [];
    src.subscribe((s) => got.push(s));
    src.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = FakeSocket.all[0]!;
    expect(ws.url).toBe("ws://node/api/v1/live?kinds=metrics,status&source=collect&access_token=tok%20en");
    expect(got[0]).toEqual(seed); // the HTTP seed renders at once
    ws.receive({ type: "hello", filters: {} });
    expect(src.state).toBe("live");
    ws.receive(frame([cpu(11, 0.25), { kind: "status", source: "host.cpu", ts: 11, state: "ok", message: "", duration_ms: 2 }]));
    const s = src.latest!;
    expect(s.ts).toBe(11);
    expect(s.hostname).toBe("box");
    expect(s.previous_run_unclean).toBe(true);
    expect(s.metrics["system.cpu.utilization"]).toEqual([{ labels: { cpu: "total" }, value: 0.25, ts: 11 }]);
    expect(s.metrics["system.uptime"]).toEqual(seed.metrics["system.uptime"]); // not streamed yet
    expect(s.collectors["host.cpu"]).toMatchObject({ state: "ok", ts: 11 });
    expect(s.collectors["host.gpu"]).toMatchObject({ state: "absent" });
    ws.receive(frame([cpu(12, 0.5)], 3));
    expect(src.latest!.metrics["system.cpu.utilization"]![0]!.value).toBe(0.5);
    expect(src.dropped).toBe(3);
    expect(got).toHaveLength(3);
    src.stop();
    expect(ws.closed).toEqual([1000, "bye"]);
  });

  it("reconnects with back-off after a drop and reports the reason", async () => {
    const src = make();
    const states: ConnectionState[] = [];
    src.onState((s) => states.push(s));
    src.start();
    FakeSocket.all[0]!.receive({ type: "hello" });
    FakeSocket.all[0]!.drop(1013, "too slow: 9 frames dropped");
    expect(src.state).toBe("reconnecting");
    expect(src.lastError).toBe("1013 too slow: 9 frames dropped");
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1]!.drop();
    await vi.advanceTimersByTimeAsync(1999);
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    FakeSocket.all[2]!.receive({ type: "hello" });
    expect(states).toEqual(["live", "reconnecting", "live"]);
    src.stop();
  });

  it("asks over HTTP when the node says the token is no longer valid", async () => {
    const fetchSummary = vi.fn(async () => seed);
    const src = make({ fetchSummary });
    src.start();
    expect(fetchSummary).toHaveBeenCalledTimes(1); // the seed
    FakeSocket.all[0]!.receive({ type: "hello" });
    FakeSocket.all[0]!.drop(1008, "the token is no longer valid");
    expect(fetchSummary).toHaveBeenCalledTimes(2);
    expect(src.lastError).toBe("1008 the token is no longer valid");
    src.stop();
  });

  it("falls back to polling when the socket never works", async () => {
    const listeners: ((s: Summary) => void)[] = [];
    const stateFns: ((s: ConnectionState) => void)[] = [];
    const poller: LiveSource = {
      state: "connecting",
      lastError: "",
      latest: null,
      start: vi.fn(),
      stop: vi.fn(),
      subscribe: (fn) => (listeners.push(fn), () => undefined),
      onState: (fn) => (stateFns.push(fn), () => undefined),
    };
    const src = make({ fallback: () => poller, fallbackAfter: 3 });
    src.start();
    for (let i = 0; i < 3; i++) {
      FakeSocket.all[i]!.drop();
      await vi.advanceTimersByTimeAsync(10_000);
    }
    expect(FakeSocket.all).toHaveLength(3);
    expect(src.mode).toBe("polling");
    expect(poller.start).toHaveBeenCalledOnce();
    stateFns[0]!("live");
    expect(src.state).toBe("live");
    listeners[0]!({ ...seed, ts: 99 });
    expect(src.latest?.ts).toBe(99);
    src.stop();
    expect(poller.stop).toHaveBeenCalledOnce();
  });
});
