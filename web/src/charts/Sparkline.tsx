import { memo, useEffect, useRef } from "react";
import uPlot from "uplot";
import type { SeriesBuffers } from "../live/buffers";
import type { ChartPalette } from "../theme";
import { markFirstChart } from "./firstChart";

export interface SparklineProps {
  buffers: SeriesBuffers;
  keys: string[];
  palette: ChartPalette;
  /** "ratio" pins the y axis to 0..1; "zero" starts it at 0. */
  scale?: "ratio" | "zero";
  height?: number;
  label: string;
  colorOffset?: number;
}

function dataFor(buffers: SeriesBuffers, keys: string[]): uPlot.AlignedData {
  const tables: uPlot.AlignedData[] = keys.map((k) => {
    const b = buffers.get(k);
    return b ? [b.xs, b.ys] : [[], []];
  });
  if (tables.length === 1) return tables[0]!;
  return uPlot.join(tables);
}

/**
 * A small live chart. The uPlot instance lives as long as the component;
 * new points arrive through the buffers' subscription and go straight to
 * setData, so React does not re-render anything per tick.
 */
function SparklineImpl({ buffers, keys, palette, scale = "zero", height = 44, label, colorOffset = 0 }: SparklineProps) {
  const host = useRef<HTMLDivElement>(null);
  const keyList = keys.join("|");

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const ks = keyList.split("|");
    const opts: uPlot.Options = {
      width: Math.max(60, el.clientWidth),
      height,
      pxAlign: false,
      cursor: { show: false },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      legend: { show: false },
      scales: {
        x: { time: true },
        y: {
          range:
            scale === "ratio"
              ? [0, 1]
              : (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1],
        },
      },
      axes: [{ show: false }, { show: false }],
      series: [
        {},
        ...ks.map((_, i) => ({
          stroke: palette.series[(i + colorOffset) % palette.series.length],
          width: 1.5,
          fill: i === 0 ? palette.fill : undefined,
          points: { show: false },
          spanGaps: true,
        })),
      ],
      hooks: {
        draw: [
          (u: uPlot) => {
            if ((u.data[0]?.length ?? 0) > 0) markFirstChart();
          },
        ],
      },
    };
    let u: uPlot | null = null;
    try {
      u = new uPlot(opts, dataFor(buffers, ks), el);
    } catch {
      return; // no canvas (e.g. jsdom): nothing to draw
    }
    const chart = u;
    const unsub = buffers.subscribe(() => chart.setData(dataFor(buffers, ks)));
    let ro: ResizeObserver | null = null;
    if (typeof ResizeObserver !== "undefined") {
      ro = new ResizeObserver(() => {
        const w = Math.max(60, el.clientWidth);
        if (w !== chart.width) chart.setSize({ width: w, height });
      });
      ro.observe(el);
    }
    return () => {
      unsub();
      ro?.disconnect();
      chart.destroy();
    };
  }, [buffers, keyList, palette, scale, height, colorOffset]);

  return <div className="spark" ref={host} role="img" aria-label={label} data-chart="spark" />;
}

export const Sparkline = memo(
  SparklineImpl,
  (a, b) =>
    a.buffers === b.buffers &&
    a.keys.join("|") === b.keys.join("|") &&
    a.palette === b.palette &&
    a.scale === b.scale &&
    a.height === b.height &&
    a.label === b.label &&
    a.colorOffset === b.colorOffset,
);
