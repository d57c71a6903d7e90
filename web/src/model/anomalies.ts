// Anomalous stretches of a series, from its stored sentra.anomaly.score points.
import type { HistoryResponse, Labels } from "../api/types";
import { seriesKey } from "../live/series";

/** A time range (unix seconds) to shade on a chart. */
export interface Stretch {
  from: number;
  to: number;
}

/** A score of 1 marks an anomalous stretch (docs/anomalies.md). */
export const ANOMALOUS = 1;

/**
 * Join consecutive anomalous points into stretches. Each point stands for the interval
 * that ends at it (a score is the highest since the previous write), so a stretch starts
 * one step before its first anomalous point; a point more than 3 steps after the previous
 * one starts a new stretch. Scores are compared with `threshold` after rounding noise.
 */
export function anomalyStretches(points: [number, number | null][], threshold = ANOMALOUS): Stretch[] {
  const out: Stretch[] = [];
  let step = Infinity;
  for (let i = 1; i < points.length; i++) step = Math.min(step, points[i]![0] - points[i - 1]![0]);
  if (!Number.isFinite(step) || step <= 0) step = 10;
  let cur: Stretch | null = null;
  let prevTs = -Infinity;
  for (const [ts, v] of points) {
    const bad = v !== null && v >= threshold - 1e-9;
    if (bad) {
      if (cur && ts - prevTs <= 3 * step) cur.to = ts;
      else {
        cur = { from: ts - step, to: ts };
        out.push(cur);
      }
    } else cur = null;
    prevTs = ts;
  }
  return out;
}

/** The name under which the node stores every series' anomaly score. */
export const SCORE_SERIES = "sentra.anomaly.score";

/** Whether a series has a score of its own (the node's own insight series have none). */
export function isScored(name: string): boolean {
  return !name.startsWith("sentra.");
}

/**
 * The anomalous stretches of the series `name{labels}` in a history answer for its score
 * (`sentra.anomaly.score{series=name, ...labels}`). Downsampled answers carry each bucket's
 * max: a bucket with any anomalous point counts as anomalous.
 */
export function stretchesFor(resp: HistoryResponse, name: string, labels: Labels): Stretch[] {
  const want = seriesKey(SCORE_SERIES, { ...labels, series: name });
  const s = resp.series.find((x) => seriesKey(x.name, x.labels) === want);
  if (!s) return [];
  const max = s.max;
  const pts: [number, number | null][] =
    max && max.length === s.points.length ? s.points.map((p, i) => [p[0], max[i] ?? p[1]]) : s.points;
  return anomalyStretches(pts);
}
