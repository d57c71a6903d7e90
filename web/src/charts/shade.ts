import type uPlot from "uplot";
import type { Stretch } from "../model/anomalies";

/** Shade of anomalous stretches: the theme's alarm red, faint enough to read the line through. */
export const ANOMALY_FILL = "rgba(229,115,115,0.18)";

/** Shade each stretch over the plot's full height, under the series (uPlot drawClear hook). */
export function shadeStretches(u: uPlot, stretches: Stretch[], fill: string = ANOMALY_FILL): void {
  if (stretches.length === 0) return;
  const { left, top, width, height } = u.bbox;
  const ctx = u.ctx;
  ctx.save();
  ctx.fillStyle = fill;
  for (const s of stretches) {
    const a = Math.max(left, u.valToPos(s.from, "x", true));
    const b = Math.min(left + width, u.valToPos(s.to, "x", true));
    if (b > a) ctx.fillRect(a, top, Math.max(b - a, 1), height);
  }
  ctx.restore();
}
