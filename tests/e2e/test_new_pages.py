"""The pages added with alerts, reports, insight and agents, in a real Chromium against a
real node: an alert fires and resolves on the Alerts page without a reload; a rollout's
PDF report downloads and is listed on the Reports page; the Overview shows stress and
stability once insight has emitted; a heartbeat puts an agent on the Agents page and in
the host picker; History shades a stored anomalous stretch. Screenshots of each page in
every theme land in tests/e2e/artifacts/."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from sentra_node import Node
from test_dashboard import shot, wait_until
from test_rollouts_page import api

pytestmark = pytest.mark.e2e

# Insight writes its scores every second (default 10 s) and alert rules are evaluated
# five times a second, so each step shows up within a couple of seconds. e2e.latency gets
# no baseline: the History test stores that series' anomaly scores itself.
NODE_ENV = {
    "SENTRA_INSIGHT_EMIT_INTERVAL_S": "1",
    "SENTRA_INSIGHT_EXCLUDE": "system.uptime,*.limit,gpu.memory.total,sentra.*,e2e.latency",
    "SENTRA_ALERTS_EVAL_INTERVAL_S": "0.2",
    # a short warm-up, so host stability is a number within seconds, not "learning…"
    "SENTRA_INSIGHT_WARMUP_SAMPLES": "3",
    "SENTRA_INSIGHT_WARMUP_S": "0",
}
THEMES = ("phosphor", "night", "light")

RULES = """\
rules:
  - name: e2e-queue-deep
    kind: threshold
    series: e2e.queue.depth
    labels: {queue: orders}
    op: ">"
    threshold: 100
    for: 1s
    clear_at: 50
    severity: critical
    summary: the orders queue is backing up
"""
ROLLOUT_SPEC = """\
apiVersion: sentra/v1
kind: Rollout
name: e2e-report
target: {service: billing, stable: v7, canary: v8}
steps: [{weight: 20, hold: 1h}, {weight: 100}]
gates:
  - {name: errors, query: error_rate, max: 0.05, no_data: hold}
"""


def ingest(node: Node, token: str, *metrics: dict[str, Any]) -> None:
    body = json.dumps({"metrics": list(metrics)}).encode()
    answer = api(node, token, "POST", "/api/v1/ingest", body)
    assert answer["accepted"]["metrics"] == len(metrics), answer


def in_theme(page: Any, theme: str) -> None:
    page.get_by_test_id("theme-select").select_option(theme)
    assert page.locator("html").get_attribute("data-theme") == theme


def test_alert_fires_and_resolves_live_on_the_alerts_page(
    signed_in: Any, node: Node, token: str
) -> None:
    page = signed_in
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    applied = api(node, token, "PUT", "/api/v1/alerts/rules", RULES.encode(), "application/yaml")
    assert [r["name"] for r in applied["rules"]] == ["e2e-queue-deep"], applied
    page.get_by_role("link", name="Alerts").click()
    page.get_by_role("heading", name="Alerts").wait_for()
    page.get_by_test_id("alerts-mode").filter(has_text="live").wait_for()
    summary = page.get_by_test_id("alerts-summary")
    wait_until(lambda: "1 rule(s)" in summary.inner_text(), what="the applied rule counted")
    page.get_by_test_id("alerts-empty").wait_for()
    page.evaluate("window.__e2eMarker = 'same-document'")

    labels = {"queue": "orders"}
    row = page.locator("[data-alert]").filter(has_text="e2e-queue-deep")

    def push(value: float) -> bool:
        ingest(node, token, {"name": "e2e.queue.depth", "value": value, "labels": labels})
        page.wait_for_timeout(250)  # Playwright delivers page events only inside its calls
        return True

    # Over the threshold for longer than `for`: pending, then firing.
    wait_until(
        lambda: push(180) and row.count() == 1 and row.get_attribute("data-state") == "firing",
        timeout=20,
        what="the alert firing on the page",
    )
    assert page.evaluate("window.__e2eMarker") == "same-document", "the page reloaded"
    alert_id = row.get_attribute("data-alert")
    assert alert_id and any('"kind":"alerts"' in f and alert_id in f for f in frames), (
        "the alert did not come over the live stream"
    )
    text = row.inner_text()
    assert "firing" in text and "critical" in text and "the orders queue is backing up" in text
    assert 'e2e.queue.depth{queue="orders"}' in text
    assert "> 100" in text
    wait_until(lambda: "1 firing" in summary.inner_text(), what="the summary counting it")
    for theme in THEMES:
        in_theme(page, theme)
        shot(page, f"alerts-firing-{theme}", full_page=False)
    in_theme(page, "phosphor")

    # An operator acknowledges it; the row says who.
    row.get_by_role("button", name="Acknowledge").click()
    wait_until(lambda: "acked by token:e2e" in row.inner_text(), what="the acknowledgement")

    # Back under clear_at: resolved, still without a reload.
    wait_until(
        lambda: push(10) and row.get_attribute("data-state") == "resolved",
        timeout=20,
        what="the alert resolving on the page",
    )
    assert page.evaluate("window.__e2eMarker") == "same-document", "the page reloaded"
    page.get_by_role("button", name="Firing").click()
    page.get_by_test_id("alerts-empty").wait_for()
    page.get_by_role("button", name="Resolved").click()
    assert row.get_attribute("data-state") == "resolved"
    shot(page, "alerts-resolved")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "alerts-phone")


def test_rollout_report_downloads_as_pdf_and_is_listed(
    signed_in: Any, node: Node, token: str, tmp_path: Path
) -> None:
    page = signed_in
    api(node, token, "POST", "/api/v1/rollouts", ROLLOUT_SPEC.encode(), "application/yaml")
    page.goto(f"{node.url}/rollouts/e2e-report")
    page.locator("[data-gate=errors]").wait_for()
    button = page.get_by_test_id("report-download")
    assert button.inner_text() == "Download report (PDF)"
    with page.expect_download(timeout=60_000) as info:
        button.click()
    download = info.value
    name = download.suggested_filename
    assert re.fullmatch(r"rollout-e2e-report-.+\.pdf", name), name
    saved = tmp_path / name
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
    assert saved.stat().st_size > 5_000
    assert (node.data_dir / "reports" / name).exists(), "the node did not keep the report"
    wait_until(lambda: button.is_enabled(), what="the button idle again")
    shot(page, "rollout-report")

    page.get_by_role("link", name="Reports").click()
    page.get_by_role("heading", name="Reports").wait_for()
    listed = page.locator(f'[data-name="{name}"]')
    listed.wait_for()
    assert "rollout" in listed.inner_text()
    assert re.search(r"\d+(\.\d+)? KiB", listed.inner_text())
    with page.expect_download(timeout=30_000) as again:
        listed.get_by_role("button", name=f"Download {name}").click()
    assert again.value.suggested_filename == name
    for theme in THEMES:
        in_theme(page, theme)
        shot(page, f"reports-{theme}", full_page=False)
    in_theme(page, "phosphor")


def test_overview_shows_stress_and_stability_once_insight_emitted(
    signed_in: Any, node: Node, token: str
) -> None:
    page = signed_in
    hosts = wait_until(
        lambda: [
            h
            for h in api(node, token, "GET", "/api/v1/insight")["hosts"]
            if h.get("stability") is not None and h.get("stress") is not None
        ],
        timeout=30,
        what="insight to emit host scores past the warm-up",
    )
    host = hosts[0]["host"]
    page.reload()  # the card reads /api/v1/insight every 10 s; start from a fresh read
    card = page.get_by_test_id(f"host-scores-{host}")
    card.wait_for(timeout=20_000)
    for test_id in ("score-stress", "score-stability"):
        tile = card.get_by_test_id(test_id)
        value = tile.locator(".tile-value").inner_text()
        assert re.fullmatch(r"\d{1,3}", value), f"{test_id}: {value!r}"
        assert 0 <= int(value) <= 100
        assert tile.get_attribute("data-level") in {"ok", "warn", "crit"}
        meter = tile.get_by_role("meter")
        assert 0 <= int(meter.get_attribute("aria-valuenow") or "-1") <= 100
        # The gauge spans the tile (styled: a bare .bar is 60 % wide).
        bar, box = meter.bounding_box(), tile.bounding_box()
        assert bar and box and bar["width"] > 0.8 * box["width"], (bar, box)
    stress = card.get_by_test_id("score-stress")
    level = stress.get_attribute("data-level")
    colour = stress.locator(".tile-value").evaluate("e => getComputedStyle(e).color")
    expected = page.evaluate(
        "l => { const e = document.createElement('span'); e.style.color = `var(--${l})`;"
        " document.body.append(e); const c = getComputedStyle(e).color; e.remove(); return c; }",
        level,
    )
    assert colour == expected, f"stress at level {level} is drawn in {colour}, not {expected}"
    assert re.search(r"of \d+ series", card.get_by_test_id("score-anomalies").inner_text())
    for theme in THEMES:
        in_theme(page, theme)
        page.get_by_test_id("host-scores").screenshot(
            path=str(Path(__file__).parent / "artifacts" / f"insight-{theme}.png")
        )
    in_theme(page, "phosphor")
    shot(page, "overview-insight")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "overview-insight-phone")


def test_agent_heartbeat_lists_it_on_the_agents_page_and_in_the_picker(
    signed_in: Any, node: Node, token: str
) -> None:
    page = signed_in
    heartbeat = {
        "id": "e2e-web-3",
        "hostname": "web-3.example",
        "version": "9.9.9",
        "interval_s": 30,
        "collectors": [
            {"name": "host", "state": "ok", "series": 40},
            {"name": "gpu", "state": "absent", "message": "no NVML"},
        ],
        "spool": {"batches": 2, "samples": 120, "bytes": 4096},
    }
    api(node, token, "POST", "/api/v1/agents/heartbeat", json.dumps(heartbeat).encode())
    now = time.time()
    ingest(
        node,
        token,
        {
            "name": "system.cpu.utilization",
            "value": 0.42,
            "ts": now,
            "labels": {"cpu": "total", "host": "e2e-web-3"},
        },
    )
    page.get_by_role("link", name="Agents").click()
    page.get_by_role("heading", name="Agents").wait_for()
    row = page.locator("[data-id=e2e-web-3]")
    row.wait_for()
    text = row.inner_text()
    assert "web-3.example" in text and "9.9.9" in text and "2 waiting" in text
    assert page.get_by_test_id("state-e2e-web-3").inner_text().strip() == "online"
    assert row.locator(".badge", has_text="host").count() == 1
    for theme in THEMES:
        in_theme(page, theme)
        shot(page, f"agents-{theme}", full_page=False)
    in_theme(page, "phosphor")

    page.get_by_role("link", name="Overview", exact=True).click()
    picker = page.get_by_test_id("host-picker")
    picker.locator("option[value=e2e-web-3]").wait_for(state="attached")
    picker.select_option("e2e-web-3")
    page.wait_for_url(re.compile(r"\?host=e2e-web-3$"))
    page.get_by_text("42.0%").first.wait_for(timeout=15_000)
    shot(page, "overview-agent")


def test_history_shades_a_stored_anomalous_stretch(signed_in: Any, node: Node, token: str) -> None:
    page = signed_in
    now = time.time()
    points = [
        {"name": "e2e.latency", "value": 20 + (i % 3), "ts": now - 120 + i * 5} for i in range(24)
    ]
    # The insight service's own record of the stretch: score 1 from 60 s to 30 s ago.
    scores = [
        {
            "name": "sentra.anomaly.score",
            "value": 1.0 if 60 <= 120 - i * 5 <= 90 else 0.0,
            "ts": now - 120 + i * 5,
            "labels": {"series": "e2e.latency"},
        }
        for i in range(24)
    ]
    ingest(node, token, *points, *scores)
    page.goto(f"{node.url}/history?s=e2e.latency&range=15m")
    chart = page.locator("[data-chart=history]").first
    chart.locator("canvas").wait_for()
    wait_until(
        lambda: int(chart.get_attribute("data-anomalies") or 0) == 1,
        what="one shaded stretch",
    )
    shot(page, "history-anomaly")
