"""Hardening of a real node: TLS, security headers, closed CORS, body limits that hold
memory flat, a nesting guard on every JSON endpoint, and answers that never leak internals."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import json
import os
import select
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sentra.api import create_app
from sentra.api.limits import LARGE_BODY_PATHS
from sentra.config import SettingsError, load_settings
from tests.nodeproc import SENTRA, NodeProcess, create_token, wait_for

MB = 1024 * 1024
DEEP_JSON = b"[" * 10_000 + b"]" * 10_000
LEAKS = ("Traceback", 'File "', "site-packages", "sentra/", "Error:", "RecursionError")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("hardening")
    token = create_token(data, "admin", "hardener")
    proc = NodeProcess(data).start()
    client = httpx.Client(
        base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    yield proc, client
    client.close()
    assert proc.stop() == 0
    # Clients that left mid-body and refused bodies leave no traceback behind.
    log = (data / "logs" / "sentra.log").read_text(encoding="utf-8")
    for text in (proc.output, log):
        assert "ClientDisconnect" not in text
        assert "Exception in ASGI application" not in text


def _assert_problem(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for leak in LEAKS:
        assert leak not in resp.text, resp.text[:500]
    return body


# ---------------------------------------------------------------------------- TLS


def _self_signed(folder: Path, *, key_mode: int = 0o600) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sentra-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_path.write_bytes(pem)
    key_path.chmod(key_mode)
    return cert_path, key_path, pem


class TlsNode(NodeProcess):
    """A node serving HTTPS with a test certificate (health polled over TLS)."""

    def __init__(self, data_dir: Path, cert: Path, key: Path, env: dict[str, str] | None = None):
        tls = {"SENTRA_SERVER_TLS_CERT": str(cert), "SENTRA_SERVER_TLS_KEY": str(key)}
        super().__init__(data_dir, env={**tls, **(env or {})})
        self.url = f"https://127.0.0.1:{self.port}"
        self.trust = ssl.create_default_context(cafile=str(cert))

    def start(self, timeout: float = 30) -> TlsNode:
        self.proc = subprocess.Popen(
            [SENTRA, "up", "--data-dir", str(self.data_dir), "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited early: {self.proc.stdout.read()}")  # type: ignore[union-attr]
            try:
                resp = httpx.get(f"{self.url}/api/health", verify=self.trust, timeout=1)
            except httpx.HTTPError:
                return False
            return resp.status_code == 200

        try:
            wait_for(healthy, timeout=timeout)
        except BaseException:
            self.stop(timeout=5)
            raise
        return self


def test_with_cert_and_key_the_node_serves_https_only_with_hsts(tmp_path):
    cert, key, pem = _self_signed(tmp_path)
    token = create_token(tmp_path, "viewer", "tls")
    proc = TlsNode(tmp_path, cert, key).start()
    try:
        resp = httpx.get(
            f"{proc.url}/api/v1/series",
            headers={"Authorization": f"Bearer {token}"},
            verify=proc.trust,
        )
        assert resp.status_code == 200
        assert resp.headers["strict-transport-security"] == "max-age=31536000"
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port is not served
            httpx.get(f"http://127.0.0.1:{proc.port}/api/health", timeout=3)
        with pytest.raises(httpx.ConnectError):  # nor to a client that does not trust it
            httpx.get(f"{proc.url}/api/health", timeout=3)
    finally:
        assert proc.stop() == 0
    assert f"https://127.0.0.1:{proc.port}" in proc.output  # the dashboard link
    key_text = pem.decode().splitlines()[1]
    logs = (tmp_path / "logs" / "sentra.log").read_text(encoding="utf-8")
    assert key_text not in proc.output and key_text not in logs


def test_a_tls_key_readable_by_others_is_warned_about(tmp_path):
    cert, key, _ = _self_signed(tmp_path, key_mode=0o644)
    proc = TlsNode(tmp_path, cert, key).start()
    assert proc.stop() == 0
    assert "chmod 600" in proc.output
    assert "chmod 600" in (tmp_path / "logs" / "sentra.log").read_text(encoding="utf-8")


def test_a_key_that_does_not_match_the_certificate_stops_the_start_clearly(tmp_path):
    cert, _, _ = _self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key, pem = _self_signed(other)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
    env.update({"SENTRA_SERVER_TLS_CERT": str(cert), "SENTRA_SERVER_TLS_KEY": str(wrong_key)})
    out = subprocess.run(
        [SENTRA, "up", "--data-dir", str(tmp_path), "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "cannot be used" in text and str(wrong_key) in text
    assert "Traceback" not in text
    assert pem.decode().splitlines()[1] not in text


def test_a_certificate_without_a_key_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="tls_cert and tls_key go together"):
        load_settings(data_dir=tmp_path, environ={"SENTRA_SERVER_TLS_CERT": "/x/cert.pem"})


# ------------------------------------------------------------------- headers, CORS


def test_the_dashboard_and_the_api_carry_security_headers(node):
    proc, client = node
    for path in ("/", "/api/v1/series", "/api/v1/nothing-here"):
        resp = client.get(path)
        h = resp.headers
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        assert h["cross-origin-opener-policy"] == "same-origin"
        csp = h["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self';" in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "unsafe-eval" not in csp
        # The live WebSocket may go back to this host only, not to any ws: URL.
        assert f"connect-src 'self' ws://127.0.0.1:{proc.port};" in csp
        assert "strict-transport-security" not in h  # plain HTTP: HSTS would be ignored
    assert client.get("/api/v1/series").headers["cache-control"] == "no-store"


def test_cors_is_closed_by_default(node):
    _, client = node
    preflight = client.options(
        "/api/v1/series",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get("/api/v1/series", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_lets_in_only_the_configured_origins(tmp_path):
    proc = NodeProcess(tmp_path, env={"SENTRA_SERVER_CORS_ORIGINS": "https://ops.example"}).start()
    try:

        def preflight(origin: str) -> httpx.Response:
            return httpx.options(
                f"{proc.url}/api/v1/series",
                headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            )

        assert preflight("https://ops.example").headers["access-control-allow-origin"] == (
            "https://ops.example"
        )
        assert "access-control-allow-origin" not in preflight("https://evil.example").headers
    finally:
        assert proc.stop() == 0


# ------------------------------------------------------------------- body limits


def _memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def _upload(port: int, method: str, path: str, headers: dict, total: int, *, chunked: bool):
    """Send ``total`` bytes of body as fast as the node takes them, stop as soon as it
    answers; return (status, response body, bytes sent)."""
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    piece = b"a" * (64 * 1024)
    frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(frame)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        sock.settimeout(2)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2], sent


@pytest.mark.parametrize(
    "method,path,chunked",
    [
        ("POST", "/api/v1/ingest", False),  # declared 100 MB: refused before reading
        ("POST", "/api/v1/ingest", True),  # chunked: counted and cut at the ingest limit
        ("PUT", "/api/v1/preferences", True),  # chunked, at the 1 MiB general limit
        ("POST", "/api/v1/rollouts", False),
        ("POST", "/v1/traces", True),
    ],
)
def test_a_100_mb_body_is_refused_and_memory_stays_flat(node, method, path, chunked):
    proc, client = node
    token = client.headers["authorization"]
    pid = proc.proc.pid
    before = _memory_kb(pid)
    status, body, sent = _upload(
        proc.port, method, path, {"Authorization": token}, 100 * MB, chunked=chunked
    )
    after = _memory_kb(pid)
    assert status == 413, body[:300]
    problem = json.loads(body)
    assert problem["status"] == 413 and "limit" in problem["detail"]
    assert sent < 30 * MB  # the node stopped the upload, it did not swallow it
    grown_mb = (after["VmHWM"] - before["VmHWM"]) / 1024
    print(
        f"\n{path} chunked={chunked}: sent {sent / MB:.1f} MB before the 413; "
        f"VmRSS {before['VmRSS'] / 1024:.1f} -> {after['VmRSS'] / 1024:.1f} MB, "
        f"peak (VmHWM) {before['VmHWM'] / 1024:.1f} -> {after['VmHWM'] / 1024:.1f} MB"
    )
    # Ingest keeps up to its own limit (16 MiB by default) of a body it is reading.
    allowed = 20 if path in ("/api/v1/ingest", "/v1/traces") and chunked else 5
    assert grown_mb < allowed, (before, after)


def test_a_client_leaving_mid_body_is_answered_quietly(node):
    proc, client = node
    token = client.headers["authorization"]
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock:
            sock.sendall(
                b"PUT /api/v1/preferences HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                + f"Authorization: {token}\r\n\r\n".encode()
                + b'{"theme":'
            )
    assert client.get("/api/health").status_code == 200  # the fixture checks the log


# -------------------------------------------------------------------- nesting


# Handlers that read the raw body themselves (no requestBody in the OpenAPI description).
RAW_BODY = {
    ("POST", "/api/v1/ingest"),
    ("POST", "/v1/traces"),
    ("POST", "/v1/metrics"),
    ("POST", "/v1/logs"),
    ("PUT", "/api/v1/preferences"),
    ("POST", "/api/v1/rollouts"),
    ("POST", "/api/v1/rollouts/validate"),
    ("POST", "/api/v1/rollouts/{name}/check"),
    ("POST", "/api/v1/rollouts/{name}/{action}"),
}


def _body_operations(client: httpx.Client) -> list[tuple[str, str, bool]]:
    """(method, path template, reads a JSON body) for every POST/PUT/PATCH operation."""
    spec = client.get("/openapi.json").json()
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if method in ("post", "put", "patch"):
                reads = "requestBody" in op or (method.upper(), path) in RAW_BODY
                ops.append((method.upper(), path, reads))
    return ops


def test_json_nested_10000_deep_is_refused_with_400_on_every_json_endpoint(node):
    _, client = node
    ops = _body_operations(client)
    readers = [(m, p) for m, p, reads in ops if reads]
    assert len(readers) >= len(RAW_BODY)
    for method, template, reads in ops:
        path = template.replace("{action}", "pause").replace("{", "").replace("}", "")
        resp = client.request(
            method, path, content=DEEP_JSON, headers={"Content-Type": "application/json"}
        )
        assert resp.status_code < 500, (method, path, resp.text)
        if reads:  # refused before any parser recurses into it (413: over a small limit)
            assert resp.status_code in (400, 413), (method, path, resp.text)
            body = _assert_problem(resp, resp.status_code)
            if path in LARGE_BODY_PATHS:  # not scanned: msgspec refuses it (type or depth)
                continue
            assert resp.status_code == 413 or "levels deep" in body["detail"], (method, path)


@pytest.mark.parametrize(
    "ctype,encoding,body",
    [
        ("application/msgpack", "", b"\x91" * 10_000 + b"\x01"),
        ("application/json", "gzip", gzip.compress(DEEP_JSON)),
        ("application/json", "", b'{"metrics": ' + DEEP_JSON + b"}"),
        (
            "application/json",
            "",
            b'{"logs": [{"body": "x", "attributes": {"a": ' + DEEP_JSON + b"}}]}",
        ),
    ],
)
def test_deep_nesting_the_scan_cannot_see_is_still_a_400(node, ctype, encoding, body):
    _, client = node
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    resp = client.post("/api/v1/ingest", content=body, headers=headers)
    _assert_problem(resp, 400)


def test_a_deep_but_reasonable_document_passes(node):
    _, client = node
    nested: dict = {"theme": "dark"}
    for _ in range(40):
        nested = {"n": nested}
    resp = client.put("/api/v1/preferences", json=nested)
    assert resp.status_code == 200


# ----------------------------------------------------------------- no leaks


@pytest.mark.parametrize(
    "method,path,content,ctype",
    [
        ("PUT", "/api/v1/preferences", b"{not json", "application/json"),
        ("PUT", "/api/v1/preferences", b"\xff\xfe\xfd", "application/json"),
        ("POST", "/api/v1/ingest", b'{"metrics": [{"name": 7}]}', "application/json"),
        ("POST", "/api/v1/ingest", msgspec.msgpack.encode({"metrics": 1}), "application/msgpack"),
        ("POST", "/v1/traces", b"\x0a\xff\xff\xff\xff\x0f", "application/x-protobuf"),
        ("POST", "/api/v1/rollouts", b"name: [unclosed", "application/yaml"),
        ("GET", "/api/v1/history?name=x&from=1e309", b"", ""),
        ("GET", "/api/v1/history?name=x&limit=99999999999999999999", b"", ""),
        ("GET", "/api/v1/rollouts/%00%ff", b"", ""),
        ("POST", "/api/v1/rollouts/x/explode", b"", ""),
        ("DELETE", "/api/v1/nothing", b"", ""),
    ],
)
def test_bad_requests_get_problems_without_internals(node, method, path, content, ctype):
    _, client = node
    headers = {"Content-Type": ctype} if ctype else {}
    resp = client.request(method, path, content=content, headers=headers)
    assert 400 <= resp.status_code < 500, resp.text
    _assert_problem(resp, resp.status_code)


def test_a_forced_internal_error_on_the_node_answers_the_generic_500(node):
    proc, client = node
    prefs = proc.data_dir / "config" / "preferences.json"
    prefs.unlink(missing_ok=True)
    prefs.mkdir(parents=True)  # the atomic rename onto it now fails inside the handler
    try:
        resp = client.put("/api/v1/preferences", json={"theme": "dark"})
    finally:
        prefs.rmdir()
    body = _assert_problem(resp, 500)
    assert body["detail"] == "the node hit an internal error; it is in the node's log"
    assert "preferences.json" not in resp.text and "Directory" not in resp.text


def test_an_exception_in_any_handler_answers_the_generic_500():
    app = create_app(ctx=None)  # type: ignore[arg-type]

    async def explode() -> None:
        raise RuntimeError("db password is hunter2 at /srv/secret/path")

    app.add_api_route("/api/v1/explode", explode)
    app.router.routes.insert(0, app.router.routes.pop())  # before the dashboard's catch-all

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as c:
            return await c.get("/api/v1/explode")

    resp = asyncio.run(call())
    assert resp.status_code == 500
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "hunter2" not in resp.text and "RuntimeError" not in resp.text
    assert resp.headers["x-content-type-options"] == "nosniff"
