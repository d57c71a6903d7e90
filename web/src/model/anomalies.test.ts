import { describe, expect, it } from "vitest";
import type { HistoryResponse } from "../api/types";
import { anomalyStretches, isScored, stretchesFor } from "./anomalies";

describe("anomalyStretches", () => {
  it("joins consecutive anomalous points and starts one step early", () => {
    const pts: [number, number | null][] = [
      [100, 0.1],
      [110, 1],
      [120, 1],
      [130, 0.4],
      [140, null],
      [150, 1],
    ];
    expect(anomalyStretches(pts)).toEqual([
      { from: 100, to: 120 },
      { from: 140, to: 150 },
    ]);
  });

  it("splits a stretch across a gap in the data", () => {
    const pts: [number, number | null][] = [
      [0, 1],
      [10, 1],
      [100, 1],
    ];
    expect(anomalyStretches(pts)).toEqual([
      { from: -10, to: 10 },
      { from: 90, to: 100 },
    ]);
  });

  it("has no stretch without an anomalous point", () => {
    expect(anomalyStretches([])).toEqual([]);
    expect(anomalyStretches([[5, 0.99]])).toEqual([]);
  });
});

describe("stretchesFor", () => {
  const resp = (max?: (number | null)[]): HistoryResponse => ({
    tier: "raw",
    granularity: 10,
    series: [
      { name: "sentra.anomaly.score", labels: { series: "other", cpu: "total" }, points: [[10, 1]] },
      {
        name: "sentra.anomaly.score",
        labels: { series: "system.cpu.utilization", cpu: "total" },
        points: [
          [10, 0.2],
          [20, 0.5],
        ],
        ...(max ? { max } : {}),
      },
    ],
  });

  it("reads the exact series' score, and a bucket's max when downsampled", () => {
    expect(stretchesFor(resp(), "system.cpu.utilization", { cpu: "total" })).toEqual([]);
    expect(stretchesFor(resp([0.3, 1]), "system.cpu.utilization", { cpu: "total" })).toEqual([{ from: 10, to: 20 }]);
    expect(stretchesFor(resp(), "system.cpu.utilization", { cpu: "0" })).toEqual([]);
  });

  it("knows the node's own series have no score", () => {
    expect(isScored("sentra.host.stress")).toBe(false);
    expect(isScored("system.cpu.utilization")).toBe(true);
  });
});
