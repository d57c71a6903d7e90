"""KPI reports: stored rollout + series -> model -> PDF, read back with poppler's tools.

The rollout and its decisions live in a real SQLite file (RolloutStore), the gate and
weight series in a real telemetry store; the PDF is read back with ``pdftotext``,
``pdfinfo``, ``pdftoppm`` and ``pdfimages`` (Debian's poppler-utils).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib
import pytest

from sentra.events import Sample
from sentra.report.data import (
    GATE_SERIES,
    WEIGHT_SERIES,
    ReportNotFound,
    ReportWindowError,
    node_report,
    rollout_report,
)
from sentra.report.model import Report, Table
from sentra.report.pdf import render_pdf
from sentra.report.service import BadReportName, ReportService, file_name
from sentra.rollout.spec import load_spec
from sentra.store.sqlite import SqliteStore
from sentra.store.sqlite.rollouts import RolloutStore

T0 = 1_764_615_000.0  # 2025-12-01 18:50:00 UTC
SPEC = """\
name: shop-canary
description: v2 of the shop behind a guarded canary
target: {service: shop, stable: v1, canary: v2}
steps:
  - {weight: 20, hold: 30s}
  - {weight: 50, hold: 30s}
analysis: {interval: 5s, window: 30s}
gates:
  - {name: errors, query: error_rate_pct, max: 5}
  - {name: p95, query: latency_p95_ms, max: 200}
"""

if shutil.which("pdftotext") is None:  # pragma: no cover - CI installs poppler-utils
    pytest.fail("poppler-utils (pdftotext, pdftoppm, pdfimages) is needed: apt-get install it")


def _run(*argv: str | Path) -> str:
    return subprocess.run(
        [str(a) for a in argv], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def text_of(pdf: Path) -> str:
    return _run("pdftotext", "-layout", pdf, "-")


def pages_of(pdf: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", pdf), re.M).group(1))  # type: ignore[union-attr]


def gate(name: str, status: str, value: float, query: str, bound: float) -> dict:
    return {
        "name": name,
        "status": status,
        "value": value,
        "samples": 1200,
        "op": "<=",
        "bound": bound,
        "query": query,
        "explanation": f"{name} is {value}",
    }


def decision(kind: str, frm: str, to: str, reason: str, canary: int, **evidence) -> dict:
    return {
        "kind": kind,
        "from_phase": frm,
        "to_phase": to,
        "step_index": 0,
        "weights": {"stable": 100 - canary, "canary": canary, "baseline": 0},
        "actor": "controller" if kind != "start" else "token:alice",
        "reason": reason,
        "evidence": evidence,
    }


@pytest.fixture
def stores(tmp_path):
    """A rolled-back rollout: decisions with gate evidence, and the gate/weight series."""
    spec = load_spec(SPEC)
    rollouts = RolloutStore(tmp_path / "sentra.db")
    telemetry = SqliteStore(tmp_path / "telemetry.db")
    state = {
        "name": "shop-canary",
        "phase": "pending",
        "weights": {"stable": 100, "canary": 0, "baseline": 0},
        "created_at": T0 - 300,
        "updated_at": T0 - 300,
    }
    rollouts.create("shop-canary", spec.model_dump_json(by_alias=True), SPEC, state, T0 - 300)
    done = dict(state, phase="rolled_back", message="errors breached twice in a row")
    steps = [
        (T0 - 300, decision("start", "pending", "progressing", "started at step 1 (20%)", 20)),
        (
            T0 - 200,
            decision(
                "rollback",
                "progressing",
                "rolling_back",
                "errors breached twice in a row: error rate of v2 is 12.5%",
                20,
                gates=[
                    gate("errors", "breach", 12.5, "error_rate_pct", 5),
                    gate("p95", "pass", 87.0, "latency_p95_ms", 200),
                ],
            ),
        ),
        (T0 - 190, decision("rolled_back", "rolling_back", "rolled_back", "all on v1", 0)),
    ]
    for ts, d in steps:
        rollouts.save("shop-canary", done, [d], ts)
    samples = []
    for i in range(60):
        ts = T0 - 300 + i * 2
        labels = {"rollout": "shop-canary"}
        samples.append(Sample(GATE_SERIES, {**labels, "gate": "errors"}, ts, 1.0 + i * 0.25))
        samples.append(Sample(GATE_SERIES, {**labels, "gate": "p95"}, ts, 80.0 + (i % 7)))
        samples.append(Sample(WEIGHT_SERIES, {**labels, "arm": "canary"}, ts, 20.0))
        samples.append(Sample(WEIGHT_SERIES, {**labels, "arm": "stable"}, ts, 80.0))
    telemetry.append(samples)
    yield rollouts, telemetry
    rollouts.close()
    telemetry.close()


def test_a_rollout_report_prints_gates_thresholds_stamps_charts_and_decisions(stores, tmp_path):
    rollouts, telemetry = stores
    report = rollout_report(rollouts, telemetry, "shop-canary", now=T0)
    assert report.verdict == "FAIL"
    gates = report.tables[0]
    assert [r[0] for r in gates.rows] == ["errors", "p95"]
    assert [r[-1] for r in gates.rows] == ["FAIL", "PASS"]
    assert gates.rows[0][2:5] == ("≤ 5%", "12.5%", "15.2%")  # threshold, measured, worst in window
    assert len(report.charts) == 3 and all(c.lines for c in report.charts)

    saved = ReportService(tmp_path / "reports").render(report)
    pdf = tmp_path / "reports" / saved.name
    assert saved.name == "rollout-shop-canary-20251201T185000Z.pdf" and pdf.is_file()
    text = text_of(pdf)
    for expected in (
        "Sentra KPI report — Rollout shop-canary",
        "errors",
        "error_rate_pct",
        "≤ 5%",
        "12.5%",
        "≤ 200 ms",
        "87 ms",
        "FAIL",
        "PASS",
        "started at step 1 (20%)",
        "errors breached twice in a row",
        "pending → progressing",
        "token:alice",
        "shop: v1 → v2",
        "page 1 of 1",
    ):
        assert expected in text, expected
    assert pages_of(pdf) == 1
    info = _run("pdfinfo", pdf)
    assert re.search(r"^Title:\s+Sentra KPI report: Rollout shop-canary$", info, re.M)
    assert "A4" in info

    # Rendered to PNG: one A4 page at the asked resolution, not blank.
    _run("pdftoppm", "-r", "40", "-png", pdf, tmp_path / "page")
    pngs = sorted(tmp_path.glob("page*.png"))
    assert len(pngs) == 1
    from PIL import Image

    with Image.open(pngs[0]) as img:
        assert img.size == (331, 468)  # 210 x 297 mm at 40 dpi
        assert len(img.convert("L").getcolors(maxcolors=100_000) or []) > 20

    # Three charts, each a PNG drawn by matplotlib (an RGB image plus its alpha mask).
    listed = [ln.split() for ln in _run("pdfimages", "-list", pdf).splitlines()[2:]]
    images = [row for row in listed if row[2] == "image"]
    assert len(images) == 3 and {row[3] for row in images} == {"630"}


def test_a_long_timeline_runs_over_pages_with_numbered_footers(stores, tmp_path):
    rollouts, telemetry = stores
    state = {
        "name": "shop-canary",
        "phase": "paused",
        "weights": {"stable": 50, "canary": 50, "baseline": 0},
        "created_at": T0 - 300,
        "updated_at": T0,
        "message": "waiting at a manual step",
    }
    for i in range(55):
        rollouts.save(
            "shop-canary",
            state,
            [decision("hold", "paused", "paused", f"held #{i}", 50)],
            T0 - 180 + i,
        )
    report = rollout_report(rollouts, telemetry, "shop-canary", now=T0)
    assert report.verdict == "IN PROGRESS"
    assert report.timeline is not None and len(report.timeline.rows) == 58
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(render_pdf(report))
    n = pages_of(pdf)
    assert n == 2
    text = text_of(pdf)
    assert "page 1 of 2" in text and "page 2 of 2" in text
    assert "held #0" in text and "held #54" in text and "IN PROGRESS" in text


def test_the_same_model_renders_to_the_same_bytes(stores):
    rollouts, telemetry = stores
    report = rollout_report(rollouts, telemetry, "shop-canary", now=T0)
    first = render_pdf(report)
    assert first.startswith(b"%PDF-") and render_pdf(report) == first


def test_an_unknown_rollout_is_not_found(stores):
    rollouts, telemetry = stores
    with pytest.raises(ReportNotFound):
        rollout_report(rollouts, telemetry, "nope", now=T0)


def test_a_node_report_summarises_host_series_and_alerts(tmp_path):
    telemetry = SqliteStore(tmp_path / "telemetry.db")
    samples = []
    for i in range(120):
        ts = T0 - 3600 + i * 30
        samples.append(Sample("system.cpu.utilization", {"cpu": "total"}, ts, 0.2 + (i % 10) / 100))
        samples.append(Sample("system.cpu.utilization", {"cpu": "0"}, ts, 0.99))  # not total
        samples.append(Sample("system.memory.utilization", {}, ts, 0.5))
        samples.append(
            Sample("system.filesystem.utilization", {"mountpoint": "/", "device": "sda1"}, ts, 0.7)
        )
        samples.append(Sample("gpu.utilization", {"gpu": "0", "name": "H200"}, ts, 0.8))
    telemetry.append(samples)
    alerts = [
        {
            "rule": "cpu-hot",
            "series": "system.cpu.utilization",
            "severity": "critical",
            "state": "firing",
            "summary": "CPU above 90% for 5 min",
            "started_at": T0 - 600,
            "fired_at": T0 - 300,
        },
        {"rule": "old", "severity": "critical", "summary": "outside", "started_at": T0 - 90000},
    ]
    try:
        report = node_report(
            telemetry,
            start=T0 - 3600,
            end=T0,
            now=T0,
            host="box-1",
            ingest={"rate now": "12.0 events/s"},
            alerts=alerts,
        )
    finally:
        telemetry.close()
    rows = {r[0]: r for r in report.tables[0].rows}
    assert set(rows) == {"CPU", "memory", "disk", "GPU"}  # no GPU memory series: no row
    assert rows["CPU"][2:] == ("20.0%", "24.5%", "29.0%", "29.0%")
    assert rows["disk"][1] == "/"
    assert rows["GPU"][1:4] == ("0", "80.0%", "80.0%")
    assert [c.title.split(" (")[0] for c in report.charts] == ["CPU", "memory", "disk", "GPU"]
    assert report.verdict == "FAIL" and report.timeline is not None
    assert len(report.timeline.rows) == 1  # the alert outside the window is left out
    pdf = tmp_path / "node.pdf"
    pdf.write_bytes(render_pdf(report))
    text = text_of(pdf)
    for expected in (
        "Node box-1",
        "CPU",
        "24.5%",
        "cpu-hot on system.cpu.utilization",
        "CPU above 90% for 5 min",
        "12.0 events/s",
        "page 1 of 1",
    ):
        assert expected in text, expected
    assert file_name(report) == "node-20251201T185000Z.pdf"


@pytest.mark.parametrize(
    ("start", "end", "why"),
    [(T0, T0 - 1, "must be after"), (float("nan"), T0, "finite"), (0.0, T0, "longer than a year")],
)
def test_a_node_report_refuses_a_bad_window(tmp_path, start, end, why):
    telemetry = SqliteStore(tmp_path / "telemetry.db")
    try:
        with pytest.raises(ReportWindowError, match=why):
            node_report(telemetry, start=start, end=end, now=T0, host="h")
    finally:
        telemetry.close()


def _tiny(subject: str, at: float) -> Report:
    return Report(
        kind="rollout",
        subject=subject,
        title=subject,
        generated_at=at,
        start=at - 60,
        end=at,
        verdict="PASS",
        verdict_reason="promoted",
        tables=(Table("Gates", ("gate",), ()),),
    )


def test_the_reports_folder_names_lists_prunes_and_refuses_other_paths(tmp_path):
    folder = tmp_path / "reports"
    service = ReportService(folder, keep=3)
    first = service.render(_tiny("../../etc/Evil Name", T0))
    assert first.name == "rollout-etc-evil-name-20251201T185000Z.pdf"
    again = service.render(_tiny("../../etc/Evil Name", T0))  # the same second
    assert again.name == "rollout-etc-evil-name-20251201T185000Z-2.pdf"
    for i in range(3):
        service.render(_tiny(f"r{i}", T0 + 10 + i))
    names = [r.name for r in service.list()]
    assert len(names) == 3 and names[0].startswith("rollout-r2-")  # newest first, pruned
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    assert service.path(names[0]) == folder / names[0]
    assert service.path("rollout-missing-20251201T185000Z.pdf") is None

    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF- not yours")
    os.symlink(secret, folder / "link.pdf")
    assert service.path("link.pdf") is None  # a link inside the folder is not followed
    assert "link.pdf" not in [r.name for r in service.list()]
    for bad in ("../secret.pdf", "a/b.pdf", "/etc/passwd", "..pdf", ".hidden.pdf", "x.txt", ""):
        with pytest.raises(BadReportName):
            service.path(bad)


def test_charts_leave_matplotlib_global_state_alone(stores):
    rollouts, telemetry = stores
    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    render_pdf(rollout_report(rollouts, telemetry, "shop-canary", now=T0))
    assert dict(matplotlib.rcParams) == before and matplotlib.get_backend() == backend
    code = (
        "import sys; from sentra.report import pdf; "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    )
    subprocess.run([os.sys.executable, "-c", code], check=True, timeout=60)
