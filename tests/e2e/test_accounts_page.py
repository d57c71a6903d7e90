"""Accounts in a real Chromium against a real node: the one-time sign-in link, setting a
password, refresh on an expired access token, sign-out and password sign-in; role-gated
navigation; an API token shown once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sentra_node import Node
from test_dashboard import shot

pytestmark = pytest.mark.e2e

PASSWORD = "tulip river seventeen"


def test_link_sign_in_sets_a_password_then_password_sign_in_works(page: Any, node: Node) -> None:
    # The printed link names the configured port; this node listens on another one.
    found = re.search(r"#signin=(\S+)", node.cli("user", "link", "admin"))
    assert found, "sentra user link printed no link"
    page.goto(f"{node.url}/#signin={found.group(1)}")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat it").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.evaluate("sessionStorage.getItem('sentra.token')").count(".") == 2  # a JWT
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Audit")).to_be_visible()
    # A broken access token: one refresh through the cookie, then the request again.
    page.evaluate("sessionStorage.setItem('sentra.token', 'garbage')")
    nav.get_by_role("link", name="Users").click()
    expect(page.get_by_test_id("users")).to_contain_text("admin")
    shot(page, "users")
    page.get_by_test_id("user-menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin"))
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/users$"))


def test_a_viewer_token_sees_no_admin_pages(page: Any, node: Node) -> None:
    page.goto(f"{node.url}/#token={node.create_token('e2e-viewer', 'viewer')}")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="WireGuard")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)


def test_a_new_api_token_is_shown_once(signed_in: Any, node: Node) -> None:
    page = signed_in
    page.goto(f"{node.url}/tokens")
    page.get_by_role("button", name="Create token").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("ci")
    dialog.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("new-token").inner_text()
    assert secret.startswith("sentra_")
    shot(page, "token-created")
    page.get_by_role("button", name="I have copied it").click()
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert secret not in page.content()
