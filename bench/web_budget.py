"""Dashboard budget: first-load size, time to the first live chart, main-thread load.

Not a test: it prints one JSON object and a one-line summary. It starts its own
node (like the e2e fixture) on a free loopback port with a fresh data dir and
drives Debian's Chromium through Playwright.

    python bench/web_budget.py [--window 20] [--runs 3]

Targets: first load (JS+CSS referenced by index.html) <= 250 KB gzipped; first
chart drawn with data <= 1.5 s after navigation; main thread busy < 10 % over
the overview with 8+ charts updating at 1 Hz (CDP Performance.getMetrics
TaskDuration delta / wall time).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from sentra_node import CHROMIUM, CHROMIUM_ARGS, WEBUI_INDEX, start_node  # noqa: E402

TARGET_GZIP_BYTES = 250 * 1000
TARGET_FIRST_CHART_MS = 1500.0
TARGET_BUSY_PCT = 10.0
MIN_CHARTS = 8


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.paths.append(str(a["src"]))
        elif tag == "link" and a.get("href") and a.get("rel") in {"stylesheet", "modulepreload"}:
            self.paths.append(str(a["href"]))


def first_load_size(index: Path) -> dict[str, Any]:
    parser = _Assets()
    parser.feed(index.read_text())
    files = {}
    for ref in parser.paths:
        path = index.parent / ref.lstrip("/")
        data = path.read_bytes()
        files[ref] = {"raw": len(data), "gzip": len(gzip.compress(data, compresslevel=9))}
    return {
        "files": files,
        "raw_bytes": sum(f["raw"] for f in files.values()),
        "gzip_bytes": sum(f["gzip"] for f in files.values()),
    }


def wait_first_chart(page: Any, timeout_s: float = 15.0) -> float:
    """Poll (the node's CSP forbids wait_for_function's string eval) for the first-chart mark."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = page.evaluate("window.__sentraFirstChart ?? null")
        if v is not None:
            return float(v)
        page.wait_for_timeout(20)
    raise RuntimeError(f"no chart drawn within {timeout_s}s")


def time_to_first_chart(browser: Any, url: str, token: str) -> float:
    """Fresh context (cold cache, empty storage): ms from navigation to the first chart."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{url}/#token={token}")
        return wait_first_chart(page)
    finally:
        context.close()


def main_thread_busy(browser: Any, url: str, token: str, window_s: float) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{url}/#token={token}")
        wait_first_chart(page)
        page.wait_for_timeout(2000)  # let the prefill and the first polls settle
        charts = int(page.evaluate("document.querySelectorAll('[data-chart] canvas').length"))
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable", {"timeDomain": "threadTicks"})

        def task_duration() -> float:
            metrics = cdp.send("Performance.getMetrics")["metrics"]
            return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))

        stamp = page.get_by_test_id("last-update")
        ts0 = float(stamp.get_attribute("data-ts") or 0)
        busy0, wall0 = task_duration(), time.monotonic()
        page.wait_for_timeout(window_s * 1000)
        busy1, wall1 = task_duration(), time.monotonic()
        ts1 = float(stamp.get_attribute("data-ts") or 0)
        wall = wall1 - wall0
        return {
            "busy_pct": round(100.0 * (busy1 - busy0) / wall, 2),
            "task_s": round(busy1 - busy0, 3),
            "wall_s": round(wall, 2),
            "charts": charts,
            "summary_span_s": round(ts1 - ts0, 1),
        }
    finally:
        context.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=float, default=20.0, help="seconds of main-thread sampling")
    ap.add_argument(
        "--runs", type=int, default=3, help="first-chart measurements (median reported)"
    )
    args = ap.parse_args()

    if not WEBUI_INDEX.exists():
        print(f"dashboard not built: {WEBUI_INDEX} missing (run `make web`)", file=sys.stderr)
        return 2
    size = first_load_size(WEBUI_INDEX)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sentra-bench-") as tmp:
        node = start_node(Path(tmp) / "data", sample_interval=1.0)
        try:
            token = node.create_token("bench", "viewer")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    time_to_first_chart(browser, node.url, token)  # warm the node (first history)
                    firsts = [
                        time_to_first_chart(browser, node.url, token) for _ in range(args.runs)
                    ]
                    busy = main_thread_busy(browser, node.url, token, args.window)
                finally:
                    browser.close()
        finally:
            node.stop()

    first_ms = statistics.median(firsts)
    result = {
        "bench": "web_budget",
        "first_load": {
            "gzip_bytes": size["gzip_bytes"],
            "raw_bytes": size["raw_bytes"],
            "files": size["files"],
            "target_gzip_bytes": TARGET_GZIP_BYTES,
            "ok": size["gzip_bytes"] <= TARGET_GZIP_BYTES,
        },
        "first_chart": {
            "median_ms": round(first_ms, 1),
            "runs_ms": [round(x, 1) for x in firsts],
            "target_ms": TARGET_FIRST_CHART_MS,
            "ok": first_ms <= TARGET_FIRST_CHART_MS,
        },
        "main_thread": {
            **busy,
            "target_busy_pct": TARGET_BUSY_PCT,
            "min_charts": MIN_CHARTS,
            "ok": busy["busy_pct"] < TARGET_BUSY_PCT and busy["charts"] >= MIN_CHARTS,
        },
        "browser": "chromium (Debian), headless, 1280x800, loopback",
    }
    result["ok"] = all(result[k]["ok"] for k in ("first_load", "first_chart", "main_thread"))
    print(json.dumps(result, indent=2))
    print(
        f"web_budget: first load {size['gzip_bytes'] / 1000:.1f} KB gz (<= 250), "
        f"first chart {first_ms:.0f} ms (<= 1500), "
        f"main thread {busy['busy_pct']:.1f}% busy with {busy['charts']} charts (< 10%) "
        f"-> {'PASS' if result['ok'] else 'FAIL'}"
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
