import { describe, expect, it } from "vitest";
import type { TraceSpan } from "../api/types";
import { formatMs, layoutWaterfall, waterfallTicks } from "./waterfall";

const T = 1764615000;

function span(id: string, parent: string, startMs: number, durMs: number, extra: Partial<TraceSpan> = {}): TraceSpan {
  return {
    trace_id: "a".repeat(32),
    span_id: id,
    parent_id: parent,
    service: "checkout",
    version: "v2",
    name: id,
    kind: "server",
    start: T + startMs / 1000,
    end: T + (startMs + durMs) / 1000,
    duration_ms: durMs,
    status: "ok",
    status_message: "",
    attributes: {},
    ...extra,
  };
}

describe("layoutWaterfall", () => {
  it("orders spans depth-first with depth from the parent ids", () => {
    // Given out of order, as a store may return them.
    const w = layoutWaterfall([
      span("db", "pay", 50, 100),
      span("root", "", 0, 400),
      span("auth", "root", 10, 30),
      span("pay", "root", 40, 300, { service: "payments" }),
      span("cache", "pay", 45, 2),
    ]);
    expect(w.rows.map((r) => [r.span.span_id, r.depth])).toEqual([
      ["root", 0],
      ["auth", 1],
      ["pay", 1],
      ["cache", 2],
      ["db", 2],
    ]);
    expect(w.durationMs).toBeCloseTo(400);
    expect(w.services).toEqual(["checkout", "payments"]);
  });

  it("places each span by start and duration as percent of the trace", () => {
    const w = layoutWaterfall([span("root", "", 0, 400), span("pay", "root", 100, 200), span("tail", "root", 300, 100)]);
    const pay = w.rows.find((r) => r.span.span_id === "pay")!;
    expect(pay.offset).toBeCloseTo(25);
    expect(pay.width).toBeCloseTo(50);
    const tail = w.rows.find((r) => r.span.span_id === "tail")!;
    expect(tail.offset + tail.width).toBeCloseTo(100);
  });

  it("keeps a tiny span visible without running past the end", () => {
    const w = layoutWaterfall([span("root", "", 0, 1000), span("blip", "root", 999.99, 0.001)], 0.5);
    const blip = w.rows[1]!;
    expect(blip.width).toBeGreaterThan(0);
    expect(blip.offset + blip.width).toBeLessThanOrEqual(100 + 1e-9);
  });

  it("marks error spans and shows spans whose parent is missing at the top", () => {
    const w = layoutWaterfall([span("root", "", 0, 100), span("late", "gone", 20, 10, { status: "error" })]);
    expect(w.rows.map((r) => [r.span.span_id, r.depth, r.orphan, r.error])).toEqual([
      ["root", 0, false, false],
      ["late", 0, true, true],
    ]);
    expect(w.errors).toBe(1);
  });

  it("survives a parent loop and duplicate span ids", () => {
    const w = layoutWaterfall([span("a", "b", 0, 10), span("b", "a", 5, 10), span("a", "b", 0, 10)]);
    expect(w.rows.map((r) => r.span.span_id).sort()).toEqual(["a", "b"]);
    expect(w.rows[0]!.depth).toBe(0);
    expect(w.rows[1]!.depth).toBe(1);
  });

  it("lays out a zero-length trace full width", () => {
    const w = layoutWaterfall([span("only", "", 0, 0)]);
    expect(w.rows[0]).toMatchObject({ offset: 0, width: 100 });
    expect(layoutWaterfall([]).rows).toEqual([]);
  });
});

describe("axis", () => {
  it("uses round tick steps", () => {
    expect(waterfallTicks(400)).toEqual([0, 100, 200, 300, 400]);
    expect(waterfallTicks(90)).toEqual([0, 50]);
    expect(waterfallTicks(0)).toEqual([0]);
  });
  it("formats durations", () => {
    expect(formatMs(412)).toBe("412 ms");
    expect(formatMs(1240)).toBe("1.24 s");
    expect(formatMs(0.349)).toBe("0.35 ms");
  });
});
