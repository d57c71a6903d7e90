import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import { ApiError } from "../api/client";
import { gateHistory, type GateStatus } from "../api/rollouts";
import { useApp } from "../context";
import { formatGateValue, gateSeries } from "../model/rollouts";
import type { Theme } from "../theme";

export interface GateChartProps {
  rollout: string;
  gate: GateStatus;
  from: number;
  to: number;
  /** Refetch when this changes (the rollout's updated_at). */
  refreshKey: number;
  height?: number;
}

function cssVar(name: string, dflt: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || dflt;
}

function Plot({ data, gate, from, to, theme, height }: { data: uPlot.AlignedData; gate: GateStatus; from: number; to: number; theme: Theme; height: number }) {
  const host = useRef<HTMLDivElement>(null);
  const { palette } = useApp();

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const fmt = (v: number | null) => formatGateValue(v, gate.query);
    const axisStyle = { stroke: palette.axis, grid: { stroke: palette.grid, width: 1 }, ticks: { stroke: palette.grid, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { show: false },
      scales: {
        x: { time: true, range: () => [from, to] },
        y: {
          // Always show the bound, with some room on both sides.
          range: (_u, min, max) => {
            const lo = Math.min(Number.isFinite(min) ? min : gate.bound, gate.bound);
            const hi = Math.max(Number.isFinite(max) ? max : gate.bound, gate.bound);
            const pad = (hi - lo || Math.abs(hi) || 1) * 0.15;
            return [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
          },
        },
      },
      axes: [{ ...axisStyle }, { ...axisStyle, size: 60, values: (_u, ticks) => ticks.map((t) => fmt(t)) }],
      series: [
        {},
        { label: gate.name, stroke: palette.series[0], width: 1.5, fill: palette.fill, points: { show: false }, value: (_u, v) => fmt(v) },
        { label: "bound", stroke: cssVar("--crit", "#e57373"), width: 1, dash: [6, 4], points: { show: false }, value: (_u, v) => fmt(v) },
      ],
    };
    let u: uPlot;
    try {
      u = new uPlot(opts, data, el);
    } catch {
      return; // no canvas (e.g. jsdom)
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
    // `theme` re-reads the CSS colours when it changes.
  }, [data, gate.bound, gate.name, gate.query, from, to, palette, theme, height]);

  return <div className="gate-chart" ref={host} role="img" aria-label={`${gate.name} over the rollout, with its bound`} data-chart="gate" />;
}

/** A gate's value over the rollout (GET /api/v1/history) with its bound as a dashed line. */
export function GateChart({ rollout, gate, from, to, refreshKey, height = 110 }: GateChartProps) {
  const { api, theme } = useApp();
  const [data, setData] = useState<uPlot.AlignedData | null>(null);
  const [note, setNote] = useState("");

  useEffect(() => {
    const ac = new AbortController();
    gateHistory(api, rollout, gate.name, from, to, ac.signal).then(
      (r) => {
        const s = r.series.find((x) => x.labels.gate === gate.name && x.labels.rollout === rollout) ?? r.series[0];
        const points = s?.points ?? [];
        setData(gateSeries(points, gate.bound, from, to) as uPlot.AlignedData);
        setNote(points.some((p) => p[1] !== null) ? "" : "No values recorded yet.");
      },
      (err: unknown) => {
        if (ac.signal.aborted) return;
        setNote(err instanceof ApiError && err.status === 404 ? "No values recorded yet." : err instanceof Error ? err.message : String(err));
      },
    );
    return () => ac.abort();
    // refreshKey: refetch as the rollout moves on; the window is fixed by from/to.
  }, [api, rollout, gate.name, gate.bound, from, to, refreshKey]);

  return (
    <div className="chart-wrap">
      {data && <Plot data={data} gate={gate} from={from} to={to} theme={theme} height={height} />}
      {note && <p className={data ? "chart-empty muted small" : "muted small"}>{note}</p>}
    </div>
  );
}
