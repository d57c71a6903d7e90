"""Charts of a report's series, as PNG bytes, drawn with matplotlib's Agg canvas.

Only the object API is used (``Figure`` + ``FigureCanvasAgg``): no pyplot, no backend
switch, no change to ``rcParams``, so a report never alters how anything else in the
process draws. matplotlib does not promise thread safety, and the API renders in worker
threads, so drawing is serialised by one lock (a chart takes milliseconds).
"""

from __future__ import annotations

import io
import math
import threading
from datetime import UTC, datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from sentra.report.model import Chart

WIDTH_IN, HEIGHT_IN, DPI = 4.2, 2.2, 150
# A palette that survives greyscale printing (Okabe-Ito).
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
_DRAW = threading.Lock()
# Tick spacings for the time axis, in seconds: the smallest giving at most MAX_TICKS ticks.
_STEPS = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_TICKS = 6


def time_ticks(start: float, end: float) -> tuple[list[float], str]:
    """Round UTC tick times in [start, end] and the strftime format to label them."""
    span = max(end - start, 1.0)
    step = next((s for s in _STEPS if span / s <= MAX_TICKS), 30 * 86400)
    first = math.ceil(start / step) * step
    ticks = [float(t) for t in range(int(first), int(end) + 1, step)]
    if step < 60:
        fmt = "%H:%M:%S"
    elif span <= 86400:
        fmt = "%H:%M"
    else:
        fmt = "%m-%d %H:%M"
    return ticks, fmt


def render_png(chart: Chart, *, start: float, end: float) -> bytes:
    """The chart as a PNG of WIDTH_IN x HEIGHT_IN inches at DPI, with a UTC time axis."""
    with _DRAW:
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        ax.set_title(chart.title, fontsize=7, loc="left")
        ax.tick_params(labelsize=6)
        ax.grid(True, linewidth=0.3, alpha=0.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        plotted, lowest = False, math.inf
        for i, line in enumerate(chart.lines):
            pairs = [
                (t, v * chart.scale)
                for t, v in zip(line.ts, line.values, strict=True)
                if v is not None and math.isfinite(v)
            ]
            if not pairs:
                continue
            xs, ys = zip(*pairs, strict=True)
            ax.plot(xs, ys, linewidth=0.9, color=COLOURS[i % len(COLOURS)], label=line.label)
            plotted, lowest = True, min(lowest, *ys)
        if chart.threshold is not None and math.isfinite(chart.threshold):
            ax.axhline(
                chart.threshold * chart.scale,
                color="#C00000",
                linestyle="--",
                linewidth=0.8,
                label=chart.threshold_label or "threshold",
            )
        for m in chart.markers:
            if start <= m.ts <= end:
                ax.axvline(
                    m.ts,
                    color="#C00000" if m.bad else "#888888",
                    linewidth=0.5,
                    linestyle=":",
                )
        if not plotted:
            ax.text(
                0.5,
                0.5,
                "no data recorded",
                ha="center",
                va="center",
                fontsize=7,
                transform=ax.transAxes,
                color="#666666",
            )
        ax.set_xlim(start, end)
        if plotted and lowest >= 0:  # counts, rates and shares start at zero
            top = ax.get_ylim()[1]
            ax.set_ylim(0, max(top, 100.0) if chart.unit == "%" else top)
        ticks, fmt = time_ticks(start, end)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _pos: datetime.fromtimestamp(x, UTC).strftime(fmt))
        )
        if chart.unit:
            ax.set_ylabel(chart.unit, fontsize=6)
        if plotted and (len(chart.lines) > 1 or chart.threshold is not None):
            ax.legend(fontsize=5, loc="upper left", frameon=False, ncols=3)
        fig.tight_layout(pad=0.4)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
        return buf.getvalue()
