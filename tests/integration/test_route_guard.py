"""Every route of the app, attacked over real HTTP on a running node.

The routes come from the app itself (``app.routes``, HTTP and WebSocket), so a route added
tomorrow is attacked tomorrow. Except the public ones below, each must refuse with a 401
problem: no token, a malformed one, an expired JWT, a JWT signed with another key, an
``alg: none`` JWT, a JWT whose role claim was raised, and a revoked API token; and with a
403 problem a viewer (API token or signed-in user) on operator/admin routes and an
operator on admin routes. The required role is read from the ``require(role)`` dependency
declared next to each route; a route with neither that nor an entry in HANDLER_AUTH fails
the test (see test_the_checker_catches_a_route_without_require).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import jwt as pyjwt
import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from sentra.api import create_app
from sentra.auth.tokens import ROLES
from tests.nodeproc import NodeProcess, create_token

PW = "violet tractor in the rain"
# Routes that must answer without a credential, and why.
PUBLIC = {
    ("GET", "/api/health"): "liveness probe",
    ("POST", "/api/v1/auth/login"): "sign-in (throttled)",
    ("POST", "/api/v1/auth/link"): "sign-in with the one-time code (throttled)",
    ("POST", "/api/v1/auth/refresh"): "the refresh cookie is the credential",
    ("POST", "/api/v1/auth/logout"): "ends the session of the cookie (or token) it is given",
    ("GET", "/api/v1/wg/links/{code}"): "capability URL: the one-time code is the credential",
}
STATIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/{path:path}"}
# Routes that authenticate inside the handler (browsers cannot set headers on a WebSocket
# or an EventSource, so they also take ?access_token=): the role they need.
HANDLER_AUTH = {"/api/v1/live": "viewer", "/api/v1/stream": "viewer"}
PATH_VALUES = {
    "name": "demo",
    "action": "pause",
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "peer_id": "p-1",
    "id": "deadbeef",
    "code": "not-a-code",
}


@dataclass(frozen=True)
class Target:
    method: str  # "WS" for a WebSocket route
    path: str  # the template, e.g. /api/v1/rollouts/{name}
    role: str | None  # None: no guard found

    @property
    def url_path(self) -> str:
        out = self.path
        for key, value in PATH_VALUES.items():
            out = out.replace("{" + key + "}", value)
        while "{" in out:  # a parameter this table does not know yet
            start, end = out.index("{"), out.index("}")
            out = out[:start] + "x" + out[end + 1 :]
        return out


def _declared_role(dependant) -> str | None:
    """The highest role any ``require(role)`` in the dependency tree asks for."""
    found: list[str] = []

    def walk(d) -> None:
        for sub in d.dependencies:
            role = getattr(sub.call, "required_role", None)
            if role:
                found.append(role)
            walk(sub)

    walk(dependant)
    return max(found, key=ROLES.index) if found else None


def targets(app) -> list[Target]:
    """Every non-public, non-static route of ``app`` with the role it requires."""
    out: list[Target] = []
    for rc in iter_route_contexts(app.routes):
        path = rc.path
        if path in STATIC:
            continue
        is_ws = isinstance(rc.original_route, APIWebSocketRoute)
        methods = ["WS"] if is_ws else sorted((rc.methods or set()) - {"HEAD", "OPTIONS"})
        dependant = getattr(rc, "dependant", None)
        role = _declared_role(dependant) if dependant is not None else None
        role = role or HANDLER_AUTH.get(path)
        out.extend(Target(m, path, role) for m in methods if (m, path) not in PUBLIC)
    return out


def unguarded(app) -> list[str]:
    return [f"{t.method} {t.path}" for t in targets(app) if t.role is None]


# --------------------------------------------------------------------------- forging


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _node_key(data_dir) -> tuple[str, bytes]:
    key = json.loads((data_dir / "state" / "jwt.key").read_text())["keys"][0]
    secret = key["secret"]
    return key["kid"], base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))


@dataclass
class Credentials:
    attacks: dict[str, str]  # name -> Authorization header value (or "" for none)
    viewer: list[str]
    operator: str


def _credentials(proc: NodeProcess, admin: str) -> Credentials:
    h = {"Authorization": f"Bearer {admin}"}
    r = httpx.post(
        f"{proc.url}/api/v1/users",
        json={"name": "vera", "role": "viewer", "password": PW},
        headers=h,
    )
    assert r.status_code == 201, r.text
    login = httpx.post(f"{proc.url}/api/v1/auth/login", json={"username": "vera", "password": PW})
    viewer_jwt = login.json()["access_token"]
    claims = _payload(viewer_jwt)
    kid, key = _node_key(proc.data_dir)
    now = int(time.time())
    expired = pyjwt.encode(
        {**claims, "iat": now - 3600, "exp": now - 60}, key, algorithm="HS256", headers={"kid": kid}
    )
    other_key = pyjwt.encode(
        {**claims, "role": "admin"},
        secrets.token_bytes(32),
        algorithm="HS256",
        headers={"kid": kid},
    )
    header_b64, _, sig = viewer_jwt.split(".")
    none_alg = (
        f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64({**claims, 'role': 'admin'})}."
    )
    forged_role = f"{header_b64}.{_b64({**claims, 'role': 'admin'})}.{sig}"
    revoked = create_token(proc.data_dir, "admin", name="doomed")
    r = httpx.delete(f"{proc.url}/api/v1/tokens/{revoked.split('_')[1]}", headers=h)
    assert r.status_code == 204
    return Credentials(
        attacks={
            "no token": "",
            "malformed token": "Bearer this-is-not-a-token",
            "wrong scheme": f"Basic {base64.b64encode(b'admin:admin').decode()}",
            "expired JWT": f"Bearer {expired}",
            "JWT signed with another key": f"Bearer {other_key}",
            "alg none JWT": f"Bearer {none_alg}",
            "JWT with a forged role claim": f"Bearer {forged_role}",
            "revoked API token": f"Bearer {revoked}",
        },
        viewer=[
            f"Bearer {create_token(proc.data_dir, 'viewer', name='v')}",
            f"Bearer {viewer_jwt}",
        ],
        operator=f"Bearer {create_token(proc.data_dir, 'operator', name='o')}",
    )


# --------------------------------------------------------------------------- probing

Send = Callable[[Target, str], tuple[int, str]]  # (target, Authorization) -> (status, type)


def http_sender(base_url: str, client: httpx.Client) -> Send:

    def send(t: Target, auth: str) -> tuple[int, str]:
        headers = {"Authorization": auth} if auth else {}
        if t.method == "WS":
            ws_url = base_url.replace("http://", "ws://") + t.url_path
            try:
                with ws_connect(ws_url, additional_headers=headers, open_timeout=10):
                    return 101, ""
            except InvalidStatus as exc:
                return exc.response.status_code, exc.response.headers.get("content-type", "")
        body = {} if t.method in ("POST", "PUT", "PATCH") else None
        r = client.request(t.method, t.url_path, headers=headers, json=body)
        return r.status_code, r.headers.get("content-type", "")

    return send


def probe(send: Send, ts: list[Target], creds: Credentials) -> list[str]:
    """Every way in which ``ts`` fail to refuse; empty when all is well."""
    bad: list[str] = []

    def expect(t: Target, auth: str, status: int, what: str) -> None:
        got, ctype = send(t, auth)
        if got != status or not ctype.startswith("application/problem+json"):
            bad.append(f"{t.method} {t.path} with {what}: {got} {ctype!r}, expected {status}")

    for t in ts:
        if t.role is None:
            bad.append(f"{t.method} {t.path} declares no require(role)")
        for what, auth in creds.attacks.items():
            expect(t, auth, 401, what)
        if t.role in ("operator", "admin"):
            for auth in creds.viewer:
                expect(t, auth, 403, f"a viewer {'JWT' if '.' in auth else 'token'}")
        if t.role == "admin":
            expect(t, creds.operator, 403, "an operator token")
    return bad


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("guard")
    admin = create_token(data, "admin", name="root")
    proc = NodeProcess(data, env={"SENTRA_AUTH_LOCKOUT_IP_FAILURES": "100000"}).start()
    yield proc, _credentials(proc, admin)
    assert proc.stop() == 0


@pytest.fixture(scope="module")
def app():
    return create_app(ctx=None)  # type: ignore[arg-type]  # the same routes the node serves


def test_every_route_declares_who_may_call_it(app):
    assert unguarded(app) == []
    assert len(targets(app)) > 40  # the enumeration found the app's routes


@pytest.fixture(scope="module")
def send(node):
    proc, _ = node
    with httpx.Client(base_url=proc.url, timeout=10) as client:
        yield http_sender(proc.url, client)


def test_every_route_refuses_missing_bad_forged_and_stale_credentials(node, app, send):
    _, creds = node
    ts = targets(app)
    assert {t.method for t in ts} >= {"GET", "POST", "DELETE", "WS"}
    bad = probe(send, ts, creds)
    assert not bad, "\n".join(bad)


def test_the_viewer_credentials_are_good_on_viewer_routes(node, app, send):
    """Control: the 401s above come from the attacks, not from credentials that never work."""
    _, creds = node
    gets = [
        t
        for t in targets(app)
        if t.method == "GET" and t.role == "viewer" and t.path not in HANDLER_AUTH  # streams
    ]
    for auth in creds.viewer:
        for t in gets:
            status, _ = send(t, auth)
            assert status not in (401, 403), f"{t.path}: {status}"


def test_public_routes_answer_without_a_token(node):
    proc, _ = node
    assert httpx.get(f"{proc.url}/api/health").status_code == 200
    r = httpx.post(f"{proc.url}/api/v1/auth/login", json={"username": "x", "password": "y"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"


def test_the_checker_catches_a_route_without_require(app):
    copy = create_app(ctx=None)  # type: ignore[arg-type]

    @copy.get("/api/v1/oops")
    async def oops() -> dict[str, str]:
        return {"secret": "everything"}

    @copy.websocket("/api/v1/oops-ws")
    async def oops_ws(websocket) -> None:  # pragma: no cover - never connected
        await websocket.accept()

    assert unguarded(copy) == ["GET /api/v1/oops", "WS /api/v1/oops-ws"]
    copy.router.routes.insert(0, copy.router.routes.pop(-2))  # before the dashboard's catch-all
    assert unguarded(app) == []

    # The probe catches it too, by behaviour: the route answers 200 to a stranger.
    async def get(path: str, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=copy)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get(path, headers=headers)

    def send(t: Target, auth: str) -> tuple[int, str]:
        r = asyncio.run(get(t.url_path, {"Authorization": auth} if auth else {}))
        return r.status_code, r.headers.get("content-type", "")

    creds = Credentials(attacks={"no token": ""}, viewer=[], operator="")
    found = probe(send, [Target("GET", "/api/v1/oops", None)], creds)
    assert found == [
        "GET /api/v1/oops declares no require(role)",
        "GET /api/v1/oops with no token: 200 'application/json', expected 401",
    ]
