"""Lay a report model out as a PDF with reportlab's platypus.

A4 portrait: the title and the headline stamp, the summary facts, the tables (gates with
their threshold, measured value and a PASS/FAIL stamp; the judge; or the host metrics),
the charts two to a row, then the timeline; a footer with "page N of M" on every page.
The text font is DejaVu Sans, embedded from matplotlib's own copy, so every character
of a reason (→, ≤, µ) prints and ``pdftotext`` reads it back. The document is built with
reportlab's *invariant* mode and fixed metadata: the same model gives the same bytes.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as RlTable

from sentra import __version__
from sentra.report.charts import HEIGHT_IN, WIDTH_IN, render_png
from sentra.report.data import utc
from sentra.report.model import Report, Table

FONT, BOLD = "SentraSans", "SentraSans-Bold"
MARGIN = 1.4 * cm
PAGE_W, PAGE_H = A4
FRAME_W = PAGE_W - 2 * MARGIN
STAMP_COLOURS = {
    "PASS": colors.HexColor("#1B7F3B"),
    "FAIL": colors.HexColor("#C00000"),
    "HOLD": colors.HexColor("#B36B00"),
    "NO DATA": colors.HexColor("#6B6B6B"),
    "IN PROGRESS": colors.HexColor("#0B5394"),
}
CELL_PT = 7
LONG_CELL = 4.5 * cm  # a column whose cells all fit in this is never wrapped
_GRID = colors.HexColor("#BBBBBB")
_HEAD_BG = colors.HexColor("#EDEDED")
_fonts_lock = threading.Lock()


def _register_fonts() -> None:
    """Register DejaVu Sans (shipped inside matplotlib) once per process."""
    with _fonts_lock:
        if FONT in pdfmetrics.getRegisteredFontNames():
            return
        ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont(FONT, str(ttf / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(ttf / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=7.5, leading=9.5)
    return {
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=15, leading=18),
        "sub": ParagraphStyle("sub", parent=base, fontSize=8, textColor=colors.HexColor("#555555")),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=BOLD, fontSize=9.5, leading=12, spaceBefore=6, spaceAfter=3
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=CELL_PT, leading=8.6),
        "head": ParagraphStyle("head", parent=base, fontName=BOLD, fontSize=CELL_PT, leading=8.6),
        "stamp": ParagraphStyle(
            "stamp",
            parent=base,
            fontName=BOLD,
            fontSize=7,
            leading=8.6,
            textColor=colors.white,
            alignment=1,
        ),
        "big": ParagraphStyle(
            "big",
            parent=base,
            fontName=BOLD,
            fontSize=14,
            leading=17,
            textColor=colors.white,
            alignment=1,
        ),
        "body": base,
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _headline(report: Report, st: dict[str, ParagraphStyle]) -> RlTable:
    colour = STAMP_COLOURS.get(report.verdict, STAMP_COLOURS["NO DATA"])
    t = RlTable(
        [[_p(report.verdict, st["big"]), _p(report.verdict_reason, st["body"])]],
        colWidths=[4.2 * cm, FRAME_W - 4.2 * cm],
    )
    t.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (0, 0), colour),
                ("BOX", (0, 0), (-1, -1), 0.8, colour),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (1, 0), (1, 0), 8),
            ]
        )
    )
    return t


def _facts(report: Report, st: dict[str, ParagraphStyle]) -> RlTable:
    rows = [[_p(k, st["head"]), _p(v, st["cell"])] for k, v in report.facts]
    t = RlTable(rows, colWidths=[3.2 * cm, FRAME_W - 3.2 * cm])
    t.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, _GRID),
            ]
        )
    )
    return t


def _widths(table: Table) -> list[float]:
    """Column widths: a column of short cells gets what its widest cell needs (measured
    in the font), the columns of long text (reasons, explanations) share the rest."""
    n = len(table.columns)
    pad = 0.45 * cm
    need = [
        max(
            [pdfmetrics.stringWidth(table.columns[i], BOLD, CELL_PT)]
            + [pdfmetrics.stringWidth(r[i], FONT, CELL_PT) for r in table.rows if i < len(r)]
        )
        + pad
        for i in range(n)
    ]
    long_text = [i for i in range(n) if need[i] > LONG_CELL] or list(range(n))
    fixed = sum(need[i] for i in range(n) if i not in long_text)
    room = FRAME_W - fixed
    if room < 3 * cm * len(long_text):  # no sensible split: scale everything
        return [w * FRAME_W / sum(need) for w in need]
    share = sum(need[i] for i in long_text)
    return [need[i] * room / share if i in long_text else need[i] for i in range(n)]


def _table(table: Table, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [_p(table.title, st["h2"])]
    if not table.rows:
        out.append(_p(table.empty, st["sub"]))
        return out
    data: list[list[Any]] = [[_p(c, st["head"]) for c in table.columns]]
    style: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), _HEAD_BG),
        ("GRID", (0, 0), (-1, -1), 0.25, _GRID),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    for r, row in enumerate(table.rows, start=1):
        cells: list[Any] = []
        for c, text in enumerate(row):
            if c == table.stamp_column:
                cells.append(_p(text, st["stamp"]))
                colour = STAMP_COLOURS.get(text, STAMP_COLOURS["NO DATA"])
                style.append(("BACKGROUND", (c, r), (c, r), colour))
            else:
                cells.append(_p(text, st["cell"]))
        data.append(cells)
    t = RlTable(data, colWidths=_widths(table), repeatRows=1)
    t.setStyle(TableStyle(style))
    out.append(t)
    return out


def _charts(report: Report, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    if not report.charts:
        return []
    w = (FRAME_W - 0.4 * cm) / 2
    h = w * HEIGHT_IN / WIDTH_IN
    images: list[Flowable] = [
        Image(io.BytesIO(render_png(c, start=report.start, end=report.end)), width=w, height=h)
        for c in report.charts
    ]
    rows: list[list[Flowable]] = [images[i : i + 2] for i in range(0, len(images), 2)]
    if len(rows[-1]) == 1:
        rows[-1].append(Spacer(w, h))
    grid = RlTable(rows, colWidths=[w + 0.2 * cm] * 2)
    grid.setStyle(
        TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 2)])
    )
    return [_p("Charts (UTC)", st["h2"]), grid]


class _NumberedCanvas(Canvas):
    """Defers each page until the end, so the footer can say "page N of M"."""

    def __init__(self, *args: Any, footer: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer_text = footer
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()  # type: ignore[attr-defined]  # reportlab's own page reset

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(FONT, 7)
            self.setFillColor(colors.HexColor("#666666"))
            self.drawString(MARGIN, 0.8 * cm, self._footer_text)
            page = f"page {self.getPageNumber()} of {total}"
            self.drawRightString(PAGE_W - MARGIN, 0.8 * cm, page)
            super().showPage()
        super().save()


def _canvas_maker(footer: str) -> Callable[..., Canvas]:
    def make(*args: Any, **kwargs: Any) -> Canvas:
        return _NumberedCanvas(*args, footer=footer, **kwargs)

    return make


def render_pdf(report: Report) -> bytes:
    """The report as PDF bytes (deterministic for a given model)."""
    _register_fonts()
    st = _styles()
    story: list[Flowable] = [
        _p(f"Sentra KPI report — {report.title}", st["title"]),
        _p(
            f"{utc(report.start)} → {utc(report.end)} · generated {utc(report.generated_at)}",
            st["sub"],
        ),
        Spacer(1, 6),
        _headline(report, st),
        Spacer(1, 6),
    ]
    if report.facts:
        story.append(_facts(report, st))
    for table in report.tables:
        story.append(KeepTogether(_table(table, st)))
    story.extend(_charts(report, st))
    if report.timeline is not None:
        story.extend(_table(report.timeline, st))
    for note in report.notes:
        story.append(_p(note, st["sub"]))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=1.4 * cm,
        title=f"Sentra KPI report: {report.title}",
        author="Sentra",
        subject=f"{report.kind} report, {utc(report.start)} to {utc(report.end)}",
        creator=f"Sentra {__version__}",
        producer="Sentra (reportlab)",
        keywords=["sentra", "kpi", report.kind, report.subject],
        invariant=True,
    )
    footer = f"Sentra · {report.title} · generated {utc(report.generated_at)}"
    doc.build(story, canvasmaker=_canvas_maker(footer))
    return buf.getvalue()
