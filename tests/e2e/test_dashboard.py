"""The dashboard in a real Chromium against a real node."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from sentra_node import Node

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def shot(page: Any, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def wait_until(fn: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_sign_in_with_a_pasted_token(page: Any, node: Node, token: str) -> None:
    page.goto(f"{node.url}/history")
    page.wait_for_url(re.compile(r"/signin\?next=%2Fhistory"))
    shot(page, "signin")
    page.get_by_label("Access token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    assert "rejected" in page.get_by_role("alert").inner_text()
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{node.url}/history")
    page.get_by_role("heading", name="History").wait_for()
    assert page.evaluate("sessionStorage.getItem('sentra.token')") == token


def test_token_in_the_url_fragment_is_kept_and_stripped(page: Any, node: Node, token: str) -> None:
    page.goto(f"{node.url}/#token={token}")
    page.get_by_role("heading", name="Overview").wait_for()
    assert page.url == f"{node.url}/"
    assert page.evaluate("sessionStorage.getItem('sentra.token')") == token


def test_overview_updates_live_without_reload(signed_in: Any) -> None:
    page = signed_in
    page.evaluate("window.__e2eMarker = 'same-document'")
    page.get_by_test_id("connection").filter(has_text="live").wait_for()
    stamp = page.get_by_test_id("last-update")
    first = stamp.get_attribute("data-ts")
    wait_until(lambda: stamp.get_attribute("data-ts") != first, what="a new summary")
    assert page.evaluate("window.__e2eMarker") == "same-document", "the page reloaded"
    # Charts are drawn with data and keep their canvas (setData, not re-creation).
    wait_until(
        lambda: page.evaluate("typeof window.__sentraFirstChart === 'number'"), what="first chart"
    )
    canvases = page.locator("[data-chart=spark] canvas")
    assert canvases.count() >= 5
    page.evaluate("document.querySelector('[data-chart=spark] canvas').__e2e = 1")
    second = stamp.get_attribute("data-ts")
    wait_until(lambda: stamp.get_attribute("data-ts") != second, what="another summary")
    assert page.evaluate("document.querySelector('[data-chart=spark] canvas').__e2e") == 1
    # Collector badges carry their state; the GPU hint is in the tooltip.
    gpu = page.locator("[data-collector=gpu]")
    if gpu.count():
        assert gpu.get_attribute("data-state") in {"ok", "stale", "absent", "error"}
        if gpu.get_attribute("data-state") != "ok":
            assert gpu.get_attribute("title")
    shot(page, "overview")


def test_overview_is_fed_by_the_websocket_stream(page: Any, node: Node, token: str) -> None:
    sockets: list[Any] = []
    frames: list[str] = []
    summaries: list[str] = []

    def on_socket(ws: Any) -> None:
        sockets.append(ws)
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", on_socket)
    page.on("request", lambda r: "/api/telemetry/summary" in r.url and summaries.append(r.url))
    page.goto(f"{node.url}/#token={token}")
    page.get_by_test_id("connection").filter(has_text="live").wait_for()
    # Playwright dispatches events only inside its own calls: wait with the page, not sleep.
    wait_until(
        lambda: page.wait_for_timeout(100) or any('"type":"frame"' in f for f in frames),
        what="a live frame",
    )
    assert [ws.url.split("?")[0] for ws in sockets] == [
        f"{node.url.replace('http', 'ws')}/api/v1/live"
    ]
    assert "kinds=metrics,status" in sockets[0].url and "source=collect" in sockets[0].url
    stamp = page.get_by_test_id("last-update")
    first = stamp.get_attribute("data-ts")
    wait_until(lambda: stamp.get_attribute("data-ts") != first, what="an update from a frame")
    assert len(summaries) <= 1, f"the overview polled: {summaries}"  # one seed request at most


def test_history_drag_zooms_and_refetches(signed_in: Any, node: Node) -> None:
    page = signed_in
    page.get_by_role("link", name="History").click()
    page.get_by_role("button", name="15 min").click()
    page.wait_for_url(re.compile(r"range=15m"))
    # Start from a window that holds this young node's samples, so the zoom lands on data.
    wait_until(
        lambda: time.time() - node.started_at > 8, timeout=15, what="a few seconds of samples"
    )
    start, now = node.started_at, time.time()
    page.goto(f"{node.url}/history?range=15m&from={int(start)}&to={int(now + 1)}")
    page.get_by_test_id("panel-meta").first.filter(has_text="points").wait_for()
    over = page.locator("[data-chart=history] .u-over").first
    over.wait_for()
    rng = page.get_by_test_id("history-range")
    before = (float(rng.get_attribute("data-from")), float(rng.get_attribute("data-to")))
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    with page.expect_response(lambda r: "/api/v1/history" in r.url and r.status == 200):
        page.mouse.move(box["x"] + box["width"] * 0.3, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=8)
        page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=8)
        page.mouse.up()
    page.wait_for_url(re.compile(r"from=\d+&to=\d+"))
    after = (float(rng.get_attribute("data-from")), float(rng.get_attribute("data-to")))
    assert before[0] < after[0] < after[1] <= before[1] + 1
    assert after[1] - after[0] < (before[1] - before[0]) * 0.5
    page.get_by_test_id("reset-zoom").wait_for()
    meta = page.get_by_test_id("panel-meta").first
    wait_until(
        lambda: re.search(r"[1-9]\d* points", meta.inner_text()), what="points in the zoomed window"
    )
    shot(page, "history-zoomed")
    # The zoomed view is a deep link: it survives a reload.
    page.reload()
    page.get_by_role("heading", name="History").wait_for()
    reloaded = (float(rng.get_attribute("data-from")), float(rng.get_attribute("data-to")))
    assert abs(reloaded[0] - after[0]) <= 1 and abs(reloaded[1] - after[1]) <= 1


def test_deep_link_reload_of_history(signed_in: Any, node: Node) -> None:
    page = signed_in
    page.goto(f"{node.url}/history?range=6h")
    page.get_by_role("heading", name="History").wait_for()
    page.reload()
    page.get_by_role("heading", name="History").wait_for()
    assert page.get_by_role("button", name="6 h").get_attribute("aria-pressed") == "true"
    page.locator("[data-chart=history] canvas").first.wait_for()
    shot(page, "history")


def test_theme_is_remembered_after_reload(signed_in: Any) -> None:
    page = signed_in
    html = page.locator("html")
    assert html.get_attribute("data-theme") == "phosphor"
    shot(page, "theme-phosphor", full_page=False)
    for theme in ("night", "light"):
        page.get_by_test_id("theme-select").select_option(theme)
        assert html.get_attribute("data-theme") == theme
        page.locator("[data-chart=spark] canvas").first.wait_for()
        shot(page, f"theme-{theme}", full_page=False)
    page.reload()
    page.get_by_role("heading", name="Overview").wait_for()
    assert html.get_attribute("data-theme") == "light"
    assert page.get_by_test_id("theme-select").input_value() == "light"
    assert page.evaluate("localStorage.getItem('sentra.theme')") == "light"


def test_clear_cache_through_the_confirmation(signed_in: Any, node: Node) -> None:
    page = signed_in
    junk = node.data_dir / "cache" / "e2e-junk.bin"
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_bytes(b"x" * 4096)
    page.get_by_role("link", name="Storage").click()
    page.get_by_test_id("data-dir").wait_for()
    assert page.get_by_test_id("data-dir").inner_text() == str(node.data_dir)
    shot(page, "storage")
    page.get_by_role("button", name="Clear cache…").click()
    dialog = page.get_by_role("alertdialog", name="Clear the cache?")
    assert f"{node.data_dir}/cache" in dialog.inner_text()
    shot(page, "storage-confirm", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    assert dialog.count() == 0
    assert junk.exists(), "cancel must not delete anything"
    page.get_by_role("button", name="Clear cache…").click()
    dialog.get_by_role("button", name="Clear cache").click()
    result = page.get_by_test_id("storage-result")
    result.wait_for()
    assert "Cache cleared" in result.inner_text()
    assert not junk.exists()


def test_history_clear_names_what_is_lost(signed_in: Any) -> None:
    page = signed_in
    page.get_by_role("link", name="Storage").click()
    page.get_by_role("button", name="Clear history…").click()
    dialog = page.get_by_role("alertdialog", name="Clear all history?")
    assert "raw samples" in dialog.inner_text()
    page.keyboard.press("Escape")
    assert dialog.count() == 0


def test_401_returns_to_sign_in(page: Any, node: Node) -> None:
    doomed = node.create_token("e2e-revoked", "viewer")
    page.goto(f"{node.url}/#token={doomed}")
    page.get_by_test_id("last-update").wait_for()
    node.revoke(doomed)
    page.wait_for_url(re.compile(r"/signin"))
    message = page.get_by_test_id("signin-message")
    message.wait_for()
    assert "sign in again" in message.inner_text()
    assert page.evaluate("sessionStorage.getItem('sentra.token')") is None
    shot(page, "signin-after-401")


def test_phone_width_collapses_the_nav(browser: Any, node: Node, token: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(f"{node.url}/#token={token}")
        page.get_by_test_id("last-update").wait_for()
        link = page.get_by_role("link", name="History")
        assert not link.is_visible()
        menu = page.get_by_role("button", name="Menu")
        shot(page, "phone-overview")
        menu.click()
        assert link.is_visible()
        shot(page, "phone-menu", full_page=False)
        link.click()
        page.get_by_role("heading", name="History").wait_for()
        assert not link.is_visible(), "the menu closes after navigating"
    finally:
        context.close()
