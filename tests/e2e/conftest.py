"""Fixtures for the dashboard's end-to-end tests: a real node and a real Chromium.

Requirements: Playwright for Python (``pip install playwright``; its own browser
download is not used) and Debian's Chromium at /usr/bin/chromium, plus the built
dashboard (``make web``). Missing pieces skip the tests with the reason, unless
E2E_REQUIRE_BROWSER=1 turns that into a failure (use it in CI).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sentra_node import CHROMIUM, CHROMIUM_ARGS, WEBUI_INDEX, Node, sentra_script, start_node


def _missing(reason: str) -> None:
    if os.environ.get("E2E_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """One node per test module; a module's ``NODE_ENV`` dict adds environment variables."""
    if not sentra_script().exists():
        _missing(f"no sentra script at {sentra_script()} (pip install -e .)")
    if not WEBUI_INDEX.exists():
        _missing(f"dashboard not built: {WEBUI_INDEX} is missing (run `make web`)")
    extra_env: dict[str, str] | None = getattr(request.module, "NODE_ENV", None)
    n = start_node(tmp_path_factory.mktemp("sentra") / "data", extra_env=extra_env)
    try:
        n.create_token("e2e", "admin")
        yield n
    finally:
        rc = n.stop()
        assert rc == 0, f"the node did not stop cleanly (exit {rc}):\n{n.log_tail()}"


@pytest.fixture(scope="module")
def token(node: Node) -> str:
    return node.tokens[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (empty session and local storage) at 1280x800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield p
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def signed_in(page: Any, node: Node, token: str) -> Any:
    """A page signed in through the #token= link the node prints at first start."""
    page.goto(f"{node.url}/#token={token}")
    page.get_by_role("heading", name="Overview").wait_for()
    page.locator("[data-testid=last-update]").wait_for()
    return page
