import type uPlot from "uplot";
import { describe, expect, it } from "vitest";
import { ANOMALY_FILL, shadeStretches } from "./shade";

/** The part of uPlot shadeStretches draws with: a 1 px per second x scale from t = 1000. */
function plot() {
  const rects: [number, number, number, number][] = [];
  const ctx = {
    fillStyle: "",
    save() {},
    restore() {},
    fillRect(x: number, y: number, w: number, h: number) {
      rects.push([x, y, w, h]);
    },
  };
  const u = { bbox: { left: 50, top: 10, width: 400, height: 200 }, ctx, valToPos: (v: number) => 50 + (v - 1000) };
  return { u: u as unknown as uPlot, rects, ctx };
}

describe("shadeStretches", () => {
  it("fills each stretch over the plot's height, clipped to the plot", () => {
    const { u, rects, ctx } = plot();
    shadeStretches(u, [
      { from: 1100, to: 1150 },
      { from: 900, to: 1010 },
      { from: 1390, to: 2000 },
      { from: 3000, to: 4000 },
    ]);
    expect(ctx.fillStyle).toBe(ANOMALY_FILL);
    expect(rects).toEqual([
      [150, 10, 50, 200],
      [50, 10, 10, 200],
      [440, 10, 10, 200],
    ]);
  });

  it("draws nothing without stretches", () => {
    const { u, rects } = plot();
    shadeStretches(u, []);
    expect(rects).toEqual([]);
  });
});
