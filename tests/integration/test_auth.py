"""Accounts against real `sentra up` processes on loopback: first start, sign-in, cookies,
refresh rotation and theft detection, sign-out, password change, TOTP, key rotation, the
admin's users and tokens, and brute-force throttling."""

from __future__ import annotations

import base64
import json
import stat
import statistics
import subprocess
import time

import httpx
import pyotp
import pytest

from tests.nodeproc import SENTRA, NodeProcess, create_token, wait_for

PW = "violet tractor in the rain"
AUTH = "/api/v1/auth"


def _problem(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return resp.json()


def _cookie(resp: httpx.Response) -> tuple[str, str]:
    """(value, full Set-Cookie line) of the refresh cookie."""
    (line,) = [c for c in resp.headers.get_list("set-cookie") if c.startswith("sentra_refresh=")]
    return line.split(";", 1)[0].split("=", 1)[1], line


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    def __init__(self, proc: NodeProcess, admin_token: str) -> None:
        self.url = proc.url
        self.admin = _bearer(admin_token)

    def post(self, path: str, **kw) -> httpx.Response:
        return httpx.post(self.url + path, timeout=10, **kw)

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kw)

    def add_user(self, name: str, role: str = "viewer", password: str = PW) -> None:
        r = self.post(
            "/api/v1/users",
            json={"name": name, "role": role, "password": password},
            headers=self.admin,
        )
        assert r.status_code == 201, r.text

    def login(self, name: str, password: str = PW, **extra) -> httpx.Response:
        return self.post(f"{AUTH}/login", json={"username": name, "password": password, **extra})

    def signed_in(self, name: str, password: str = PW, **extra) -> tuple[str, str]:
        r = self.login(name, password, **extra)
        assert r.status_code == 200, r.text
        return r.json()["access_token"], _cookie(r)[0]

    def refresh(self, cookie: str) -> httpx.Response:
        return self.post(f"{AUTH}/refresh", headers={"Cookie": f"sentra_refresh={cookie}"})

    def me(self, access: str) -> httpx.Response:
        return self.get(f"{AUTH}/me", headers=_bearer(access))


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("auth")
    admin_token = create_token(data, "admin", name="root-automation")
    # Every test signs in from 127.0.0.1: lift the per-address limit so that one test's
    # wrong passwords cannot lock out the next (the throttle has its own nodes below).
    proc = NodeProcess(data, env={"SENTRA_AUTH_LOCKOUT_IP_FAILURES": "100000"}).start()
    yield proc, Api(proc, admin_token)
    assert proc.stop() == 0


def test_first_start_prints_a_one_time_sign_in_link_not_a_token(tmp_path):
    proc = NodeProcess(tmp_path).start()
    proc.stop()
    assert "#token=" not in proc.output and "sentra_" not in proc.output.replace("sentra token", "")
    (line,) = [w for w in proc.output.split() if "#signin=" in w]
    assert line.startswith(proc.url + "/#signin=")
    code = line.split("#signin=", 1)[1]
    again = NodeProcess(tmp_path).start()
    try:
        r = httpx.post(f"{again.url}{AUTH}/link", json={"code": code})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["must_set_password"] is True and body["token_type"] == "Bearer"
        assert body["user"] == {"name": "admin", "role": "admin", "totp_enabled": False}
        _problem(httpx.post(f"{again.url}{AUTH}/link", json={"code": code}), 401)  # only once
        access = body["access_token"]
        # No password yet: the current one may be left empty.
        weak = httpx.post(
            f"{again.url}{AUTH}/password", json={"new": "admin12345"}, headers=_bearer(access)
        )
        assert "user name" in _problem(weak, 400)["detail"]
        r = httpx.post(f"{again.url}{AUTH}/password", json={"new": PW}, headers=_bearer(access))
        assert r.status_code == 200, r.text
        assert (
            httpx.post(
                f"{again.url}{AUTH}/login", json={"username": "admin", "password": PW}
            ).status_code
            == 200
        )
    finally:
        again.stop()
    assert "#signin=" not in again.output  # printed on the first start only
    log = (tmp_path / "logs" / "sentra.log").read_text()
    assert code not in log and PW not in log
    key = tmp_path / "state" / "jwt.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert code.encode() not in (tmp_path / "db" / "sentra.db").read_bytes()


def test_sign_in_answers_a_bearer_token_and_a_strict_http_only_cookie(node):
    _, api = node
    api.add_user("carol", "operator")
    r = api.login("Carol")  # user names are case-insensitive
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"] == {"name": "carol", "role": "operator", "totp_enabled": False}
    assert r.headers["cache-control"] == "no-store"
    value, line = _cookie(r)
    attrs = [a.strip() for a in line.split(";")]
    assert {"HttpOnly", "SameSite=Strict", "Path=/api/v1/auth"} <= set(attrs)
    assert "Secure" not in attrs  # plain HTTP, cookie_secure=auto
    assert len(value) >= 40 and value not in body["access_token"]
    me = api.me(body["access_token"]).json()
    assert me == {"name": "carol", "role": "operator", "kind": "user", "totp_enabled": False}


def test_wrong_password_and_unknown_user_look_the_same(node):
    _, api = node
    api.add_user("dave")
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(4):  # within the 5 free attempts per user name
        for kind, name in (("known", "dave"), ("unknown", "nobody-here")):
            t = time.perf_counter()
            body = _problem(api.login(name, "not the password at all"), 401)
            timings[kind].append(time.perf_counter() - t)
            assert body["detail"] == "wrong username or password"
            assert "totp_required" not in body
    known, unknown = (statistics.median(timings[k]) for k in ("known", "unknown"))
    # Both pay for one argon2 verification (~45 ms); a missing user is not a fast path.
    assert unknown > 0.5 * known and unknown > 0.015, timings


def test_refresh_rotates_the_cookie_and_a_reused_one_ends_the_session(node):
    _, api = node
    api.add_user("erin")
    access, first = api.signed_in("erin")
    r = api.refresh(first)
    assert r.status_code == 200, r.text
    second = _cookie(r)[0]
    assert second != first and api.me(r.json()["access_token"]).status_code == 200
    # The first cookie shows up again: someone copied it. The whole session ends.
    body = _problem(api.refresh(first), 401)
    assert "already used" in body["detail"]
    _problem(api.refresh(second), 401)
    _problem(api.me(access), 401)
    _problem(api.refresh(""), 401)
    _problem(api.post(f"{AUTH}/refresh"), 401)


def test_logout_revokes_the_access_token_and_the_cookie(node):
    _, api = node
    api.add_user("frank")
    access, cookie = api.signed_in("frank")
    r = api.post(
        f"{AUTH}/logout", headers={**_bearer(access), "Cookie": f"sentra_refresh={cookie}"}
    )
    assert r.status_code == 204
    assert "Max-Age=0" in _cookie(r)[1]
    assert "ended" in _problem(api.me(access), 401)["detail"]
    _problem(api.refresh(cookie), 401)


def test_logout_with_only_the_cookie_ends_the_session_of_an_expired_tab(node):
    _, api = node
    api.add_user("frida")
    access, cookie = api.signed_in("frida")
    r = api.post(f"{AUTH}/logout", headers={"Cookie": f"sentra_refresh={cookie}"})
    assert r.status_code == 204
    _problem(api.refresh(cookie), 401)
    assert "ended" in _problem(api.me(access), 401)["detail"]
    # Without any credential it changes nothing and says nothing either way.
    assert api.post(f"{AUTH}/logout").status_code == 204


def test_password_change_ends_every_other_sign_in(node):
    _, api = node
    api.add_user("grace")
    a_access, a_cookie = api.signed_in("grace")
    b_access, _ = api.signed_in("grace")
    wrong = api.post(
        f"{AUTH}/password",
        json={"current": "nope nope nope", "new": "x" * 3},
        headers=_bearer(b_access),
    )
    _problem(wrong, 401)
    r = api.post(
        f"{AUTH}/password",
        json={"current": PW, "new": "a new long passphrase"},
        headers=_bearer(b_access),
    )
    assert r.status_code == 200, r.text
    _problem(api.me(a_access), 401)
    _problem(api.refresh(a_cookie), 401)
    _problem(api.me(b_access), 401)  # the old token of this session too…
    assert api.me(r.json()["access_token"]).status_code == 200  # …it continues with this one
    _problem(api.login("grace", PW), 401)
    assert api.login("grace", "a new long passphrase").status_code == 200


def test_totp_second_factor_and_api_tokens_keep_working(node):
    _, api = node
    api.add_user("heidi", "admin")
    access, _ = api.signed_in("heidi")
    setup = api.post(f"{AUTH}/totp/setup", headers=_bearer(access)).json()
    assert setup["otpauth_uri"].startswith("otpauth://totp/Sentra:heidi")
    assert setup["qr_svg"].lstrip().startswith(("<?xml", "<svg"))
    totp = pyotp.TOTP(setup["secret"])
    _problem(
        api.post(
            f"{AUTH}/totp/enable",
            json={"code": "000000" if totp.now() != "000000" else "111111"},
            headers=_bearer(access),
        ),
        400,
    )
    r = api.post(f"{AUTH}/totp/enable", json={"code": totp.now()}, headers=_bearer(access))
    assert r.json() == {"totp_enabled": True}
    # An API token made by this admin works with no second factor (automation).
    made = api.post(
        "/api/v1/tokens", json={"name": "ci", "role": "operator"}, headers=_bearer(access)
    )
    assert made.status_code == 201, made.text
    assert api.me(made.json()["token"]).json()["kind"] == "token"

    body = _problem(api.login("heidi"), 401)
    assert body["totp_required"] is True
    body = _problem(api.login("heidi", totp="123456" if totp.now() != "123456" else "654321"), 401)
    assert body["totp_required"] is True
    _problem(api.login("heidi", "wrong password!!", totp=totp.now()), 401)

    # The enabling code's step is spent; the next step's code is within the drift window.
    r = api.login("heidi", totp=totp.at(time.time() + 30))
    assert r.status_code == 200, r.text
    assert r.json()["user"]["totp_enabled"] is True
    fresh = r.json()["access_token"]
    assert api.me(fresh).json()["totp_enabled"] is True
    _problem(api.post(f"{AUTH}/totp/disable", json={"code": "999999"}, headers=_bearer(fresh)), 400)
    assert api.me(made.json()["token"]).status_code == 200


def test_key_rotation_keeps_old_tokens_until_they_expire(node):
    proc, api = node
    api.add_user("ivan")
    old, _ = api.signed_in("ivan")
    r = api.post(f"{AUTH}/keys/rotate", headers=api.admin)
    assert r.status_code == 200, r.text
    kid = r.json()["kid"]
    new, _ = api.signed_in("ivan")
    header = lambda t: json.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))  # noqa: E731
    assert header(new)["kid"] == kid and header(old)["kid"] != kid
    assert api.me(old).status_code == 200 and api.me(new).status_code == 200
    key = proc.data_dir / "state" / "jwt.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(json.loads(key.read_text())["keys"]) >= 2


def test_admin_manages_users_and_changes_take_effect_at_once(node):
    _, api = node
    api.add_user("judy", "viewer")
    access, _ = api.signed_in("judy")
    body = _problem(api.get("/api/v1/users", headers=_bearer(access)), 403)
    assert "admin" in body["detail"]
    users = api.get("/api/v1/users", headers=api.admin).json()["users"]
    judy = next(u for u in users if u["name"] == "judy")
    assert judy["has_password"] and "password_hash" not in judy and PW not in json.dumps(users)
    r = httpx.patch(f"{api.url}/api/v1/users/judy", json={"role": "operator"}, headers=api.admin)
    assert r.json()["role"] == "operator"
    assert api.me(access).json()["role"] == "operator"  # the same token, the new role
    weak = httpx.post(
        f"{api.url}/api/v1/users",
        headers=api.admin,
        json={"name": "kim", "role": "viewer", "password": "password123"},
    )
    assert "too common" in _problem(weak, 400)["detail"]
    dup = httpx.post(
        f"{api.url}/api/v1/users",
        headers=api.admin,
        json={"name": "JUDY", "role": "viewer", "password": PW},
    )
    _problem(dup, 409)
    r = httpx.patch(f"{api.url}/api/v1/users/judy", json={"disabled": True}, headers=api.admin)
    assert r.json()["disabled"] is True
    _problem(api.me(access), 401)
    assert "disabled" in _problem(api.login("judy"), 403)["detail"]
    assert httpx.delete(f"{api.url}/api/v1/users/judy", headers=api.admin).status_code == 204
    _problem(httpx.delete(f"{api.url}/api/v1/users/judy", headers=api.admin), 404)
    _problem(api.login("judy"), 401)


def test_last_admin_cannot_be_removed(tmp_path):
    token = create_token(tmp_path, "admin")
    proc = NodeProcess(tmp_path).start()  # creates the user 'admin', the only admin user
    try:
        r = httpx.delete(f"{proc.url}/api/v1/users/admin", headers=_bearer(token))
        assert "last enabled admin" in _problem(r, 409)["detail"]
    finally:
        proc.stop()


def test_admin_creates_lists_and_revokes_api_tokens(node):
    _, api = node
    r = api.post("/api/v1/tokens", json={"name": "scraper", "role": "viewer"}, headers=api.admin)
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    made = r.json()
    assert made["token"].startswith(f"sentra_{made['id']}_")
    listed = api.get("/api/v1/tokens", headers=api.admin).json()["tokens"]
    assert {"id": made["id"], "name": "scraper", "role": "viewer"}.items() <= next(
        t for t in listed if t["id"] == made["id"]
    ).items()
    assert made["token"] not in json.dumps(listed)
    _problem(api.post("/api/v1/tokens", json={"name": "x", "role": "root"}, headers=api.admin), 400)
    assert (
        httpx.delete(f"{api.url}/api/v1/tokens/{made['id']}", headers=api.admin).status_code == 204
    )
    _problem(api.me(made["token"]), 401)


def test_a_signed_in_user_can_follow_the_live_stream(node):
    _, api = node
    api.add_user("ken")
    access, _ = api.signed_in("ken")
    with httpx.stream(
        "GET", f"{api.url}/api/v1/stream", params={"access_token": access}, timeout=10
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")


def test_nothing_secret_reaches_the_log(node):
    proc, api = node
    api.add_user("leo")
    access, cookie = api.signed_in("leo")
    api.login("leo", "a wrong guess for leo")
    log = (proc.data_dir / "logs" / "sentra.log").read_text()
    for secret in (PW, access, cookie, "a wrong guess for leo", api.admin["Authorization"][7:]):
        assert secret not in log
    assert "signed in: leo" in log


# --------------------------------------------------------------------------- brute force


def _hammer(url: str, name: str, n: int) -> tuple[int, int, list[httpx.Response]]:
    checked = throttled = 0
    refused: list[httpx.Response] = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(n):
            r = client.post(f"{AUTH}/login", json={"username": name, "password": f"guess-{i:06d}"})
            if r.status_code == 401:
                checked += 1
            else:
                assert r.status_code == 429, r.text
                throttled += 1
                if len(refused) < 3:
                    refused.append(r)
    return checked, throttled, refused


def test_a_thousand_wrong_passwords_in_a_row_are_throttled(tmp_path):
    token = create_token(tmp_path, "admin")
    proc = NodeProcess(tmp_path).start()  # the default limits
    try:
        api = Api(proc, token)
        api.add_user("victim")
        t0 = time.monotonic()
        checked, throttled, refused = _hammer(proc.url, "victim", 1000)
        elapsed = time.monotonic() - t0
        assert checked + throttled == 1000
        # 5 free guesses, then 1, 2, 4 … s lock-outs: ~10 per minute at the very most.
        assert checked <= 5 + elapsed / 1.0 and checked <= 12, (checked, elapsed)
        body = _problem(refused[0], 429)
        assert int(refused[0].headers["retry-after"]) >= 1
        assert "try again in" in body["detail"] and body["retry_after_s"] >= 1
        # While locked, even the right password is not checked.
        _problem(api.login("victim"), 429)
    finally:
        proc.stop()


def test_lock_out_ends_and_the_right_password_then_works(tmp_path):
    token = create_token(tmp_path, "admin")
    env = {
        "SENTRA_AUTH_LOCKOUT_USER_FAILURES": "3",
        "SENTRA_AUTH_LOCKOUT_BASE_S": "0.2",
        "SENTRA_AUTH_LOCKOUT_MAX_S": "0.5",
        "SENTRA_AUTH_COOKIE_SECURE": "on",
    }
    proc = NodeProcess(tmp_path, env=env).start()
    try:
        api = Api(proc, token)
        api.add_user("mallory")
        checked, throttled, _ = _hammer(proc.url, "mallory", 200)
        assert throttled > 0 and checked >= 3
        r = wait_for(lambda: (x := api.login("mallory")).status_code == 200 and x, timeout=5)
        assert "Secure" in [a.strip() for a in _cookie(r)[1].split(";")]
    finally:
        proc.stop()


def _cli(proc: NodeProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SENTRA, "user", *args, "--data-dir", str(proc.data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_cli_works_on_the_data_dir_of_a_running_node(node):
    proc, api = node
    added = _cli(proc, "add", "Nina", "--role", "operator", "--password-stdin", stdin=PW + "\n")
    assert added.returncode == 0, added.stderr
    access, _ = api.signed_in("nina")
    assert api.me(access).json()["role"] == "operator"
    weak = _cli(proc, "add", "otto", "--password-stdin", stdin="password123\n")
    assert weak.returncode == 2 and "too common" in weak.stderr
    listed = _cli(proc, "list")
    assert "nina" in listed.stdout and "operator" in listed.stdout
    new_pw = "another long passphrase"
    changed = _cli(proc, "passwd", "nina", "--password-stdin", stdin=new_pw + "\n")
    assert changed.returncode == 0 and "1 sign-ins ended" in changed.stdout
    _problem(api.me(access), 401)
    link = _cli(proc, "link", "nina").stdout.strip()
    assert link.startswith("http://127.0.0.1:") and "/#signin=" in link  # the configured URL
    r = api.post(f"{AUTH}/link", json={"code": link.split("#signin=")[1]})
    assert r.status_code == 200 and r.json()["must_set_password"] is False
    assert _cli(proc, "remove", "nina").returncode == 0
    _problem(api.me(r.json()["access_token"]), 401)
    log = (proc.data_dir / "logs" / "sentra.log").read_text()
    assert new_pw not in log
