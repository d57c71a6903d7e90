import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { coalesce, DecisionFeed, itemRollout, itemSummary, type DecisionItem } from "./decisions";

class FakeSocket {
  static all: FakeSocket[] = [];
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  close() {
    this.closed = true;
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) } as MessageEvent);
  }
  drop() {
    this.onclose?.({ code: 1006, reason: "" } as CloseEvent);
  }
}

const decisionItem = (name: string): DecisionItem => ({
  kind: "decisions",
  topic: `rollout.decision.${name}`,
  source: "rollout",
  ts: 1,
  data: { id: 1, ts: 1, rollout: name } as never,
});

describe("live items", () => {
  it("name their rollout from the payload or the topic", () => {
    expect(itemRollout(decisionItem("checkout"))).toBe("checkout");
    expect(itemRollout({ kind: "decisions", topic: "rollout.state.pay.v2", source: "", ts: 0 })).toBe("pay.v2");
    expect(itemRollout({ kind: "decisions", topic: "decisions", source: "", ts: 0 })).toBe("");
  });
  it("carry a summary only on rollout.state topics", () => {
    const summary = { name: "checkout", phase: "paused" };
    expect(itemSummary({ kind: "decisions", topic: "rollout.state.checkout", source: "", ts: 0, data: summary as never })).toEqual(summary);
    expect(itemSummary(decisionItem("checkout"))).toBeNull();
  });
});

describe("DecisionFeed", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
  });
  afterEach(() => vi.useRealTimers());

  function make() {
    const got: [DecisionItem[], boolean][] = [];
    const live: boolean[] = [];
    const feed = new DecisionFeed(
      { url: "ws://n/api/v1/live?kinds=decisions", getToken: () => "T k", makeSocket: (u) => new FakeSocket(u) },
      (items, gap) => got.push([items, gap]),
      (l) => live.push(l),
    );
    return { feed, got, live };
  }

  it("subscribes with the token and passes on decision items only", () => {
    const { feed, got, live } = make();
    feed.start();
    const ws = FakeSocket.all[0]!;
    expect(ws.url).toBe("ws://n/api/v1/live?kinds=decisions&access_token=T%20k");
    ws.receive({ type: "hello" });
    expect(live).toEqual([true]);
    expect(got).toEqual([[[], true]]); // refetch once on (re)connect
    ws.receive({ type: "frame", dropped: 0, items: [decisionItem("checkout"), { kind: "metrics", topic: "m", source: "", ts: 1 }] });
    expect(got[1]).toEqual([[decisionItem("checkout")], false]);
    ws.receive({ type: "frame", dropped: 2, items: [] });
    expect(got[2]).toEqual([[], true]); // frames were lost: the page refetches
    ws.receive({ type: "ping" });
    expect(got).toHaveLength(3);
    feed.stop();
    expect(ws.closed).toBe(true);
    expect(live).toEqual([true, false]);
  });

  it("reconnects with back-off and reports the gap", async () => {
    const { feed, live } = make();
    feed.start();
    FakeSocket.all[0]!.drop();
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    FakeSocket.all[1]!.drop();
    await vi.advanceTimersByTimeAsync(1999);
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    FakeSocket.all[2]!.receive({ type: "hello" });
    expect(live).toEqual([true]);
    feed.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(3);
  });
});

describe("coalesce", () => {
  it("runs a burst as the call in flight plus one more", async () => {
    let calls = 0;
    let release: () => void = () => undefined;
    const run = coalesce(
      () =>
        new Promise<void>((resolve) => {
          calls++;
          release = resolve;
        }),
    );
    const first = run();
    void run();
    void run();
    expect(calls).toBe(1);
    release();
    await Promise.resolve();
    await Promise.resolve();
    expect(calls).toBe(2);
    release();
    await first;
    expect(calls).toBe(2);
    void run();
    expect(calls).toBe(3);
  });
});
