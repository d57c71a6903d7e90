"""DockerCollector against a real HTTP server on a real unix socket, replaying recorded
Engine API answers (tests/fixtures/docker, written by tools/record_docker.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sentra.collect.base import CollectorUnavailable
from sentra.collect.docker import DockerApiError, DockerCollector
from sentra.events import Sample

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "docker"
RECORDING = json.loads((FIXTURES / "recording.json").read_text())
INTERVAL = RECORDING["interval_s"]
NOW = 1_714_552_800.0
WEB = {"container": "shop-web-1", "id": "3f1c9a7be2d0", "image": "nginx:1.27-alpine"}
DB = {"container": "shop-db-1", "id": "9b2e4d6f8a0c", "image": "postgres:16"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RecordedDockerServer

    def do_GET(self) -> None:
        srv = self.server
        url = urlsplit(self.path)
        srv.requests.append((url.path, parse_qs(url.query)))
        if any(url.path.startswith(p) for p in srv.slow_prefixes):
            srv.release.wait(10)  # far past the client's timeout
        status, body = srv.answer(url.path)
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Api-Version", RECORDING["api_version"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting, as it should

    def log_message(self, format: str, *args: Any) -> None:
        pass


class RecordedDockerServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Serves the recorded answers: each container's stats in recorded order, then the last."""

    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(path, _Handler)
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.slow_prefixes: set[str] = set()
        self.release = threading.Event()
        self._served: dict[str, int] = {}

    def answer(self, path: str) -> tuple[int, Any]:
        if path == "/containers/json":
            return 200, json.loads((FIXTURES / "containers.json").read_text())
        if path == "/version":
            return 200, json.loads((FIXTURES / "version.json").read_text())
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "containers" and parts[2] == "stats":
            readings = RECORDING["stats"].get(parts[1][:12])
            if readings is None:
                return 404, {"message": f"No such container: {parts[1]}"}
            n = self._served.get(parts[1], 0)
            self._served[parts[1]] = n + 1
            return 200, json.loads((FIXTURES / readings[min(n, len(readings) - 1)]).read_text())
        return 404, {"message": "page not found"}


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Not tmp_path: a unix socket path must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="sentra-dk-") as d:
        yield Path(d)


@pytest.fixture
def daemon(sock_dir: Path) -> Iterator[RecordedDockerServer]:
    server = RecordedDockerServer(str(sock_dir / "docker.sock"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def collector(daemon: RecordedDockerServer) -> Iterator[DockerCollector]:
    c = DockerCollector(str(daemon.server_address), timeout_s=0.3)
    yield c
    c.close()


def value(samples: list[Sample], metric: str, labels: dict[str, str], **extra: str) -> float:
    want = {**labels, **extra}
    matches = [s.value for s in samples if s.name == metric and s.labels == want]
    assert len(matches) == 1, f"{metric} {want}: {matches}"
    return matches[0]


def test_first_tick_has_memory_but_no_cpu_or_rates(collector: DockerCollector) -> None:
    samples = collector.collect(NOW)
    assert {s.name for s in samples} == {
        "container.memory.usage",
        "container.memory.limit",
        "container.memory.utilization",
    }
    # usage minus inactive_file, like docker stats: 70 MiB - 10 MiB
    assert value(samples, "container.memory.usage", WEB) == 62_914_560
    assert value(samples, "container.memory.limit", WEB) == 33_404_575_744  # no limit: host RAM
    assert value(samples, "container.memory.utilization", WEB) == 0.0019
    assert value(samples, "container.memory.usage", DB) == 201_326_592  # 256 - 64 MiB
    assert value(samples, "container.memory.limit", DB) == 536_870_912
    assert value(samples, "container.memory.utilization", DB) == 0.375
    assert all(s.ts == NOW for s in samples)


def test_second_tick_has_cpu_from_the_previous_reading_and_rates(
    collector: DockerCollector,
) -> None:
    collector.collect(NOW)
    samples = collector.collect(NOW + INTERVAL)

    # 2 s of CPU in 10 s on 8 CPUs = 0.025 of the host (docker stats: 20 %)
    assert value(samples, "container.cpu.utilization", WEB) == 0.025
    assert value(samples, "container.cpu.utilization", DB) == 0.075

    rate = "container.network.io.rate"
    assert value(samples, rate, WEB, direction="receive") == 12_500
    assert value(samples, rate, WEB, direction="transmit") == 5_000
    # summed over both of the db's networks
    assert value(samples, rate, DB, direction="receive") == 25_000
    assert value(samples, rate, DB, direction="transmit") == 31_000

    blk = "container.blockio.rate"
    assert value(samples, blk, WEB, direction="read") == 0
    assert value(samples, blk, WEB, direction="write") == 40_960
    # summed over both of the db's block devices
    assert value(samples, blk, DB, direction="read") == 100_000
    assert value(samples, blk, DB, direction="write") == 250_000
    assert all(s.ts == NOW + INTERVAL for s in samples)


def test_stats_are_asked_for_once_not_streamed(
    collector: DockerCollector, daemon: RecordedDockerServer
) -> None:
    collector.collect(NOW)
    stats_queries = [q for path, q in daemon.requests if path.endswith("/stats")]
    assert len(stats_queries) == 2
    assert all(q == {"stream": ["false"], "one-shot": ["true"]} for q in stats_queries)
    assert [p for p, _ in daemon.requests if p.endswith("/stats")] == [
        f"/containers/{c['Id']}/stats"
        for c in json.loads((FIXTURES / "containers.json").read_text())
    ]


def test_slow_container_list_fails_the_tick_fast(
    collector: DockerCollector, daemon: RecordedDockerServer
) -> None:
    daemon.slow_prefixes.add("/containers/json")
    started = time.monotonic()
    with pytest.raises(DockerApiError, match=r"did not answer GET /containers/json within 0.3 s"):
        collector.collect(NOW)
    assert time.monotonic() - started < 2.0


def test_slow_stats_of_one_container_lose_only_its_readings(
    collector: DockerCollector, daemon: RecordedDockerServer
) -> None:
    daemon.slow_prefixes.add("/containers/9b2e4d6f8a0c")  # the db
    started = time.monotonic()
    samples = collector.collect(NOW)
    assert time.monotonic() - started < 2.0
    assert {s.labels["container"] for s in samples} == {"shop-web-1"}
    assert value(samples, "container.memory.usage", WEB) == 62_914_560


def test_spent_budget_skips_the_remaining_containers(daemon: RecordedDockerServer) -> None:
    ticks = iter([0.0, 1.0, 6.0])  # start, before web, before db (budget 5 s)
    c = DockerCollector(str(daemon.server_address), budget_s=5.0, clock=lambda: next(ticks))
    try:
        samples = c.collect(NOW)
    finally:
        c.close()
    assert {s.labels["container"] for s in samples} == {"shop-web-1"}
    assert [p for p, _ in daemon.requests if p.endswith("/stats")] == [
        "/containers/3f1c9a7be2d04c51a8e6b7d9c0f2a4e6b8d1c3e5f7a9b2d4c6e8f0a1b3c5d7e9/stats"
    ]


def test_missing_socket_is_unavailable_with_a_hint(sock_dir: Path) -> None:
    c = DockerCollector(sock_dir / "docker.sock")
    with pytest.raises(
        CollectorUnavailable, match=r"Docker socket .* not found: mount it read-only"
    ):
        c.collect(NOW)
    c.close()


def test_socket_nobody_listens_on_is_an_error_not_absence(sock_dir: Path) -> None:
    path = sock_dir / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))  # bound, never listening: connect() is refused
        c = DockerCollector(path, timeout_s=0.5)
        with pytest.raises(DockerApiError, match="is the Docker daemon running"):
            c.collect(NOW)
        c.close()


PERMISSION_PROBE = """
import os, sys
from sentra.collect.base import CollectorUnavailable
from sentra.collect.docker import DockerCollector
collector = DockerCollector(sys.argv[1], timeout_s=0.5)
if os.geteuid() == 0:  # drop to nobody only once everything is imported
    os.setgid(65534)
    os.setuid(65534)
try:
    collector.collect(0.0)
except CollectorUnavailable as exc:
    print(exc)
"""


def test_permission_denied_is_unavailable_with_a_docker_group_hint(
    daemon: RecordedDockerServer, sock_dir: Path
) -> None:
    path = str(daemon.server_address)
    os.chmod(path, 0o600)
    if os.geteuid() == 0:
        # root ignores file modes: the probe drops to nobody, who needs to reach the socket.
        os.chmod(sock_dir, 0o755)
    else:
        os.chmod(path, 0o000)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run(
        [sys.executable, "-c", PERMISSION_PROBE, path],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"permission denied on Docker socket {path}")
    assert "docker group" in out.stdout
    assert "--group-add" in out.stdout


def test_collector_recovers_when_the_daemon_comes_back(sock_dir: Path) -> None:
    path = sock_dir / "docker.sock"
    c = DockerCollector(path, timeout_s=0.5)
    try:
        with pytest.raises(CollectorUnavailable):
            c.collect(NOW)
        server = RecordedDockerServer(str(path))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            assert value(c.collect(NOW), "container.memory.limit", DB) == 536_870_912
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
    finally:
        c.close()


def test_recorder_writes_the_layout_the_tests_read(
    daemon: RecordedDockerServer, tmp_path: Path
) -> None:
    spec = importlib.util.spec_from_file_location(
        "record_docker", FIXTURES.parents[2] / "tools" / "record_docker.py"
    )
    assert spec is not None and spec.loader is not None
    recorder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recorder)

    manifest = recorder.record(
        str(daemon.server_address), tmp_path, interval=0.0, readings=2, most=2, keep=False
    )
    assert manifest["api_version"] == RECORDING["api_version"]
    assert manifest["stats"] == RECORDING["stats"]
    stats_files = [name for names in RECORDING["stats"].values() for name in names]
    for name in ["containers.json", "version.json", *stats_files]:
        assert json.loads((tmp_path / name).read_text()) == json.loads(
            (FIXTURES / name).read_text()
        ), name
