import { describe, expect, it, vi } from "vitest";
import { SeriesBuffers } from "./buffers";
import { parseSeriesKey, seriesKey } from "./series";

describe("seriesKey", () => {
  it("is independent of label order and round-trips", () => {
    const k = seriesKey("m", { b: "2", a: "1" });
    expect(k).toBe('m{a="1",b="2"}');
    expect(seriesKey("m", { a: "1", b: "2" })).toBe(k);
    expect(parseSeriesKey(k)).toEqual({ name: "m", labels: { a: "1", b: "2" } });
    expect(parseSeriesKey("plain")).toEqual({ name: "plain", labels: {} });
  });
});

describe("SeriesBuffers", () => {
  it("appends summary points, ignores repeats, trims to the window and notifies", () => {
    const b = new SeriesBuffers(10, (n) => n === "cpu");
    const fn = vi.fn();
    b.subscribe(fn);
    const summary = (ts: number, v: number) => ({
      ts,
      hostname: "h",
      previous_run_unclean: false,
      collectors: {},
      metrics: { cpu: [{ labels: { cpu: "total" }, value: v, ts }], other: [{ labels: {}, value: 1, ts }] },
    });
    b.ingestSummary(summary(100, 0.1));
    b.ingestSummary(summary(100, 0.1));
    b.ingestSummary(summary(105, 0.2));
    b.ingestSummary(summary(112, 0.3));
    const buf = b.get('cpu{cpu="total"}')!;
    expect(buf.xs).toEqual([105, 112]);
    expect(buf.ys).toEqual([0.2, 0.3]);
    expect(b.get("other")).toBeUndefined();
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it("prefills older history in front of live points", () => {
    const b = new SeriesBuffers();
    b.push("k", 50, 5);
    b.prefill("k", [
      [30, 3],
      [10, 1],
      [50, 99],
    ]);
    expect(b.get("k")).toEqual({ xs: [10, 30, 50], ys: [1, 3, 5] });
  });
});
