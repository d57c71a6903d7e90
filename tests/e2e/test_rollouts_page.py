"""The Rollouts pages in a real Chromium against a real node: list, detail, confirmed
abort, the decision timeline, and the trace waterfall of an exemplar."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from sentra_node import Node
from test_dashboard import shot, wait_until

pytestmark = pytest.mark.e2e

ROLLOUT_SPEC = """\
apiVersion: sentra/v1
kind: Rollout
name: e2e-checkout
target: {service: checkout, stable: v1, canary: v2}
steps: [{weight: 10, hold: 1h}, {weight: 100}]
gates:
  - {name: p95, query: latency_p95_ms, max: 120, no_data: hold}
"""
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def api(
    node: Node,
    token: str,
    method: str,
    path: str,
    body: bytes | None = None,
    ctype: str = "application/json",
) -> Any:
    req = urllib.request.Request(
        f"{node.url}{path}",
        method=method,
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": ctype},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def phase(node: Node, token: str) -> str:
    return str(api(node, token, "GET", "/api/v1/rollouts/e2e-checkout")["phase"])


def test_rollout_abort_needs_confirmation_and_shows_in_the_timeline(
    signed_in: Any, node: Node, token: str
) -> None:
    page = signed_in
    api(node, token, "POST", "/api/v1/rollouts", ROLLOUT_SPEC.encode(), "application/yaml")
    page.goto(f"{node.url}/rollouts")
    row = page.locator("[data-rollout=e2e-checkout]")
    row.wait_for()
    assert "v1 → v2" in row.inner_text()
    wait_until(lambda: row.get_attribute("data-phase") == "progressing", what="progressing")
    shot(page, "rollouts")
    row.get_by_role("link", name="e2e-checkout").click()
    page.wait_for_url(f"{node.url}/rollouts/e2e-checkout")
    page.locator("[data-gate=p95]").wait_for()
    page.get_by_role("button", name="Abort…").click()
    dialog = page.get_by_role("alertdialog", name="Roll back e2e-checkout?")
    assert "Traffic returns to v1." in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert phase(node, token) == "progressing"
    page.get_by_role("button", name="Abort…").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Roll back").click()
    page.get_by_test_id("action-result").wait_for()
    wait_until(
        lambda: phase(node, token) in {"rolling_back", "rolled_back", "aborted"},
        what="the abort applied",
    )
    page.locator("[data-kind=abort]").first.wait_for()  # arrives live or by the 5 s poll
    shot(page, "rollout-detail")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{node.url}/rollouts")
    page.locator("[data-rollout=e2e-checkout]").wait_for()
    shot(page, "rollouts-phone")


def _span(sid: str, parent: str, a: int, b: int, code: int, t0: int) -> dict[str, Any]:
    return {
        "traceId": TRACE_ID,
        "spanId": sid,
        "parentSpanId": parent,
        "name": sid,
        "kind": 2,
        "startTimeUnixNano": str(t0 + a),
        "endTimeUnixNano": str(t0 + b),
        "status": {"code": code},
    }


def test_exemplar_link_opens_the_trace_waterfall(signed_in: Any, node: Node, token: str) -> None:
    page = signed_in
    t0 = int(time.time() * 1e9)
    resource = {
        "attributes": [
            {"key": "service.name", "value": {"stringValue": "checkout"}},
            {"key": "service.version", "value": {"stringValue": "v2"}},
        ]
    }
    spans = [
        _span("00f067aa0ba902b7", "", 0, 412_000_000, 2, t0),
        _span("00f067aa0ba902b8", "00f067aa0ba902b7", 10_000_000, 300_000_000, 1, t0),
    ]
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    api(node, token, "POST", "/v1/traces", json.dumps(body).encode())
    page.goto(f"{node.url}/rollouts/e2e-checkout?trace={TRACE_ID}")
    page.get_by_test_id("waterfall").wait_for()
    assert page.locator('[data-span="00f067aa0ba902b8"]').get_attribute("data-depth") == "1"
    assert page.locator('[data-span="00f067aa0ba902b7"]').get_attribute("data-error") == "true"
    shot(page, "trace-waterfall")
    page.keyboard.press("Escape")
    page.wait_for_url(f"{node.url}/rollouts/e2e-checkout")
