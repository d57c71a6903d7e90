"""Shared pieces of the proxy tests: tiny named backends and a request counter."""

from __future__ import annotations

import contextlib
import http.client
import os
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def require_binary(path: str, package: str) -> None:
    """Skip the module when a proxy is missing, or fail under TEST_REQUIRE_PROXIES=1 (CI)."""
    if os.path.exists(path):
        return
    if os.environ.get("TEST_REQUIRE_PROXIES") == "1":
        raise RuntimeError(f"{package} is not installed (apt-get install {package})")
    pytest.skip(f"{package} is not installed (Debian package {package})", allow_module_level=True)


class _NameHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def name_servers(names: tuple[str, ...] = ("stable", "canary")) -> Iterator[dict[str, int]]:
    """HTTP servers on loopback, each answering its own name; yields name -> port."""
    servers = []
    for name in names:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _NameHandler)
        srv.daemon_threads = True
        srv.name = name  # type: ignore[attr-defined]
        threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(srv)
    try:
        yield {s.name: s.server_address[1] for s in servers}  # type: ignore[attr-defined]
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def count_split(port: int, n: int = 1000) -> Counter[str]:
    """Send ``n`` requests through a frontend, a new connection each; count who answered."""
    seen: Counter[str] = Counter()
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            response = conn.getresponse()
            body = response.read().decode()
            seen[body if response.status == 200 else f"status {response.status}"] += 1
        finally:
            conn.close()
    return seen
