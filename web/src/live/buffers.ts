import type { HistorySeries, Summary } from "../api/types";
import { seriesKey } from "./series";

export interface Buffer {
  xs: number[];
  ys: (number | null)[];
}

/**
 * Rolling per-series buffers for the live charts (a few minutes of points).
 * Charts subscribe and read their series on each tick; React is not involved,
 * so appending a point never re-renders the page.
 */
export class SeriesBuffers {
  private readonly map = new Map<string, Buffer>();
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly windowSec = 300,
    private readonly tracked: (name: string) => boolean = () => true,
  ) {}

  get(key: string): Buffer | undefined {
    return this.map.get(key);
  }

  keys(): string[] {
    return [...this.map.keys()];
  }

  /** Append one point; points not newer than the last one are ignored. */
  push(key: string, ts: number, value: number | null): void {
    let b = this.map.get(key);
    if (!b) {
      b = { xs: [], ys: [] };
      this.map.set(key, b);
    }
    const last = b.xs.length ? b.xs[b.xs.length - 1]! : -Infinity;
    if (ts <= last) return;
    b.xs.push(ts);
    b.ys.push(value);
  }

  /** Merge older points (e.g. prefilled history) in front of what is there. */
  prefill(key: string, points: [number, number | null][]): void {
    const b = this.map.get(key) ?? { xs: [], ys: [] };
    const first = b.xs.length ? b.xs[0]! : Infinity;
    const older = points.filter((p) => p[0] < first).sort((a, c) => a[0] - c[0]);
    b.xs = older.map((p) => p[0]).concat(b.xs);
    b.ys = older.map((p) => p[1]).concat(b.ys);
    this.map.set(key, b);
  }

  prefillHistory(series: HistorySeries[]): void {
    for (const s of series) this.prefill(seriesKey(s.name, s.labels), s.points);
  }

  /** Drop points older than `now - windowSec`. */
  trim(now: number): void {
    const cutoff = now - this.windowSec;
    for (const b of this.map.values()) {
      let i = 0;
      while (i < b.xs.length && b.xs[i]! < cutoff) i++;
      if (i > 0) {
        b.xs.splice(0, i);
        b.ys.splice(0, i);
      }
    }
  }

  ingestSummary(s: Summary): void {
    for (const [name, points] of Object.entries(s.metrics)) {
      if (!this.tracked(name)) continue;
      for (const p of points) this.push(seriesKey(name, p.labels), p.ts ?? s.ts, p.value);
    }
    this.trim(s.ts);
    this.notify();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  notify(): void {
    for (const fn of this.listeners) fn();
  }
}
