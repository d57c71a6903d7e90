// The History page keeps its state in the URL so deep links and reloads show the same view.
import { seriesKey } from "../live/series";

export const RANGES: { key: string; label: string; seconds: number }[] = [
  { key: "15m", label: "15 min", seconds: 15 * 60 },
  { key: "1h", label: "1 h", seconds: 3600 },
  { key: "6h", label: "6 h", seconds: 6 * 3600 },
  { key: "24h", label: "24 h", seconds: 86400 },
  { key: "7d", label: "7 d", seconds: 7 * 86400 },
  { key: "30d", label: "30 d", seconds: 30 * 86400 },
];

const DEFAULT_SERIES = [
  seriesKey("system.cpu.utilization", { cpu: "total" }),
  seriesKey("system.memory.utilization"),
];

export interface HistoryView {
  series: string[];
  range: string;
  /** Absolute window from a zoom, else null (relative to now). */
  from: number | null;
  to: number | null;
}

export function parseHistoryView(search: string): HistoryView {
  const p = new URLSearchParams(search);
  const raw = p.getAll("s");
  const series = raw.filter(Boolean);
  const range = p.get("range") ?? "1h";
  const from = Number(p.get("from"));
  const to = Number(p.get("to"));
  const zoomed = Number.isFinite(from) && Number.isFinite(to) && p.has("from") && p.has("to") && to > from;
  return {
    // No `s` at all: a sensible default; an explicit empty selection (`s=`) stays empty.
    series: raw.length === 0 ? DEFAULT_SERIES : series,
    range: RANGES.some((r) => r.key === range) ? range : "1h",
    from: zoomed ? from : null,
    to: zoomed ? to : null,
  };
}

export function historyViewSearch(v: HistoryView): string {
  const p = new URLSearchParams();
  for (const s of v.series) p.append("s", s);
  if (v.series.length === 0) p.append("s", "");
  p.set("range", v.range);
  if (v.from !== null && v.to !== null) {
    p.set("from", v.from.toFixed(0));
    p.set("to", v.to.toFixed(0));
  }
  return `?${p.toString()}`;
}

