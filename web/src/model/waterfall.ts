// The trace waterfall's layout: spans in tree order, indented by parent, placed by start and
// duration on one time axis. Pure: the page renders what this returns.
import type { TraceSpan } from "../api/types";

export interface WaterfallRow {
  span: TraceSpan;
  depth: number;
  /** Percent of the trace's duration from its start to this span's start. */
  offset: number;
  /** Percent of the trace's duration this span lasts (at least `minWidth`). */
  width: number;
  error: boolean;
  /** Its parent is not among the stored spans (not yet arrived, or dropped). */
  orphan: boolean;
}

export interface Waterfall {
  rows: WaterfallRow[];
  start: number;
  /** Milliseconds from the first start to the last end. */
  durationMs: number;
  services: string[];
  errors: number;
}

/**
 * Depth-first from the roots (spans without a stored parent), children by start time.
 * A parent loop in bad data cannot recurse forever: a span is placed once.
 */
export function layoutWaterfall(spans: TraceSpan[], minWidth = 0.4): Waterfall {
  const byId = new Map<string, TraceSpan>();
  for (const s of spans) if (!byId.has(s.span_id)) byId.set(s.span_id, s);
  const children = new Map<string, TraceSpan[]>();
  const roots: TraceSpan[] = [];
  for (const s of byId.values()) {
    const parent = s.parent_id && s.parent_id !== s.span_id ? byId.get(s.parent_id) : undefined;
    if (parent) {
      const list = children.get(parent.span_id);
      if (list) list.push(s);
      else children.set(parent.span_id, [s]);
    } else roots.push(s);
  }
  const byStart = (a: TraceSpan, b: TraceSpan) => a.start - b.start || b.end - a.end || a.span_id.localeCompare(b.span_id);
  roots.sort(byStart);
  for (const list of children.values()) list.sort(byStart);

  const all = [...byId.values()];
  const start = all.length ? Math.min(...all.map((s) => s.start)) : 0;
  const end = all.length ? Math.max(...all.map((s) => Math.max(s.end, s.start))) : 0;
  const total = end - start;

  const rows: WaterfallRow[] = [];
  const placed = new Set<string>();
  const visit = (s: TraceSpan, depth: number) => {
    if (placed.has(s.span_id)) return;
    placed.add(s.span_id);
    const offset = total > 0 ? ((s.start - start) / total) * 100 : 0;
    const raw = total > 0 ? ((Math.max(s.end, s.start) - s.start) / total) * 100 : 100;
    rows.push({
      span: s,
      depth,
      offset,
      width: Math.min(100 - offset, Math.max(minWidth, raw)),
      error: s.status === "error",
      orphan: Boolean(s.parent_id) && !byId.has(s.parent_id),
    });
    for (const c of children.get(s.span_id) ?? []) visit(c, depth + 1);
  };
  for (const r of roots) visit(r, 0);
  // Spans only reachable through a loop have no root: show them at the top level.
  for (const s of [...byId.values()].sort(byStart)) visit(s, 0);

  return {
    rows,
    start,
    durationMs: total * 1000,
    services: [...new Set(all.map((s) => s.service).filter(Boolean))].sort(),
    errors: all.filter((s) => s.status === "error").length,
  };
}

/** Round tick marks for an axis of `durationMs`: 0, 50, 100, … ms (about `count` of them). */
export function waterfallTicks(durationMs: number, count = 4): number[] {
  if (!(durationMs > 0)) return [0];
  const raw = durationMs / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = 0; t <= durationMs + 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** "412 ms", "1.24 s", "0.35 ms". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 1 : 2)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${Number(ms.toFixed(2))} ms`;
}
