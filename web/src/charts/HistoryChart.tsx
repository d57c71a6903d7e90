import { useEffect, useRef } from "react";
import uPlot from "uplot";
import type { HistorySeries } from "../api/types";
import type { Stretch } from "../model/anomalies";
import { shadeStretches } from "./shade";
import { formatMetric } from "../format";
import { labelsText } from "../live/series";
import type { ChartPalette } from "../theme";

export const HISTORY_SYNC_KEY = "sentra-history";

export interface HistoryChartProps {
  series: HistorySeries[];
  from: number;
  to: number;
  palette: ChartPalette;
  /** Called with the dragged-over time range (unix seconds). */
  onZoom: (from: number, to: number) => void;
  height?: number;
  /** Anomalous stretches (unix seconds) shaded behind the lines. */
  anomalies?: Stretch[];
}

/** Build aligned data: per series [value, min, max] columns, joined on time. */
export function buildHistoryData(series: HistorySeries[]): {
  data: uPlot.AlignedData;
  columns: { series: number; kind: "value" | "min" | "max" }[];
} {
  const tables: uPlot.AlignedData[] = [];
  const columns: { series: number; kind: "value" | "min" | "max" }[] = [];
  series.forEach((s, i) => {
    const xs = s.points.map((p) => p[0]);
    const ys = s.points.map((p) => p[1]);
    const cols: (number | null)[][] = [ys];
    columns.push({ series: i, kind: "value" });
    const n = s.points.length;
    if (s.min && s.max && s.min.length === n && s.max.length === n) {
      cols.push(s.min, s.max);
      columns.push({ series: i, kind: "min" }, { series: i, kind: "max" });
    }
    tables.push([xs, ...cols] as uPlot.AlignedData);
  });
  if (tables.length === 0) return { data: [[]], columns };
  return { data: tables.length === 1 ? tables[0]! : uPlot.join(tables), columns };
}

export function HistoryChart({ series, from, to, palette, onZoom, height = 220, anomalies }: HistoryChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const zoomRef = useRef(onZoom);
  zoomRef.current = onZoom;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const { data, columns } = buildHistoryData(series);
    const name = series[0]?.name ?? "";
    const fmt = (v: number | null) => formatMetric(name, v);
    const seriesOpts: uPlot.Series[] = [{}];
    const bands: uPlot.Band[] = [];
    const colIndex = new Map<string, number>();
    columns.forEach((c, i) => colIndex.set(`${c.series}:${c.kind}`, i + 1));
    for (const c of columns) {
      const s = series[c.series]!;
      const color = palette.series[c.series % palette.series.length]!;
      const lbl = labelsText(s.labels) || s.name;
      if (c.kind === "value") {
        seriesOpts.push({ label: lbl, stroke: color, width: 1.5, spanGaps: false, value: (_u, v) => fmt(v), points: { show: false } });
      } else {
        seriesOpts.push({
          label: c.kind,
          stroke: palette.band,
          width: 0.5,
          value: (_u, v) => fmt(v),
          points: { show: false },
        });
      }
    }
    series.forEach((_s, i) => {
      const mx = colIndex.get(`${i}:max`);
      const mn = colIndex.get(`${i}:min`);
      if (mx !== undefined && mn !== undefined) bands.push({ series: [mx, mn], fill: palette.band });
    });

    const axisStyle = { stroke: palette.axis, grid: { stroke: palette.grid, width: 1 }, ticks: { stroke: palette.grid, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      cursor: {
        sync: { key: HISTORY_SYNC_KEY, setSeries: false },
        drag: { x: true, y: false, setScale: false },
      },
      scales: { x: { time: true, range: () => [from, to] } },
      axes: [
        { ...axisStyle },
        { ...axisStyle, size: 70, values: (_u, ticks) => ticks.map((t) => fmt(t)) },
      ],
      series: seriesOpts,
      bands,
      hooks: {
        drawClear: [(u: uPlot) => shadeStretches(u, anomalies ?? [])],
        setSelect: [
          (u: uPlot) => {
            const { left, width } = u.select;
            if (width < 4) return;
            const a = u.posToVal(left, "x");
            const b = u.posToVal(left + width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            if (b > a) zoomRef.current(a, b);
          },
        ],
      },
    };
    let u: uPlot;
    try {
      u = new uPlot(opts, data, el);
    } catch {
      return;
    }
    let ro: ResizeObserver | null = null;
    if (typeof ResizeObserver !== "undefined") {
      ro = new ResizeObserver(() => {
        const w = Math.max(200, el.clientWidth);
        if (w !== u.width) u.setSize({ width: w, height });
      });
      ro.observe(el);
    }
    return () => {
      ro?.disconnect();
      u.destroy();
    };
  }, [series, from, to, palette, height, anomalies]);

  return <div className="history-chart" ref={host} data-chart="history" data-anomalies={anomalies?.length ?? 0} />;
}
