"""`sentra agent` against a real `sentra up`: labels, the agents list, and no sample lost or
doubled across a server killed with SIGKILL during pushes and started again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from sentra import __version__
from tests.integration.test_hardening import TlsNode, _self_signed
from tests.nodeproc import SENTRA, NodeProcess, create_token, wait_for

INTERVAL = 0.2


class AgentProcess:
    def __init__(self, data_dir: Path, server: str, token: str, agent_id: str, *extra: str) -> None:
        self.data_dir = data_dir
        self.stats_file = data_dir / "stats.json"
        data_dir.mkdir(parents=True, exist_ok=True)
        token_file = data_dir / "token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
        env["SENTRA_COLLECT_GPU"] = "off"
        self.log = data_dir / "agent.out"
        self._out = open(self.log, "wb")  # noqa: SIM115 - a file, not a pipe that can fill up
        self.proc = subprocess.Popen(
            [
                SENTRA,
                "agent",
                "--server",
                server,
                "--token-file",
                str(token_file),
                "--id",
                agent_id,
                "--interval",
                str(INTERVAL),
                "--data-dir",
                str(data_dir),
                "--stats-file",
                str(self.stats_file),
                *extra,
            ],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def stats(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.stats_file.read_text()))
        except (OSError, ValueError):
            return {}

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()
        return code, self.log.read_text(errors="replace")


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = tmp_path / "server"
    node = NodeProcess(data, interval=1.0)
    node.token = create_token(data, "operator", name="agents")  # type: ignore[attr-defined]
    node.viewer = create_token(data, "viewer", name="dash")  # type: ignore[attr-defined]
    node.start()
    yield node
    if node.proc is not None and node.proc.poll() is None:
        node.stop()


@pytest.fixture
def agents(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[AgentProcess] = []

    def start(server: NodeProcess, agent_id: str, *extra: str) -> AgentProcess:
        token: str = server.token  # type: ignore[attr-defined]
        agent = AgentProcess(tmp_path / agent_id, server.url, token, agent_id, *extra)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


def _get(node: NodeProcess, path: str, **params: Any) -> Any:
    r = httpx.get(
        node.url + path,
        params=params,
        headers={"Authorization": f"Bearer {node.viewer}"},  # type: ignore[attr-defined]
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _stored(node: NodeProcess, host: str, since: float) -> Counter[tuple[str, float]]:
    """Every stored point of the agent's series: (series, ts) -> how many times."""
    series = _get(node, "/api/v1/series", q=f"host={host}", limit=10_000)["series"]
    names = sorted({s["name"] for s in series if s["labels"].get("host") == host})
    points: Counter[tuple[str, float]] = Counter()
    for name in names:
        got = _get(
            node,
            "/api/v1/history",
            name=name,
            labels=f"host={host}",
            **{"from": since, "to": time.time() + 60, "limit": 100_000},
        )
        assert got["tier"] == "raw"
        assert len(got["series"]) < 100  # all of them came back (the API caps at 100)
        for s in got["series"]:
            key = json.dumps([s["name"], s["labels"]], sort_keys=True)
            for ts, _value in s["points"]:
                points[(key, ts)] += 1
    return points


def test_samples_arrive_with_the_host_label_and_the_agent_is_listed(server, agents) -> None:  # type: ignore[no-untyped-def]
    before = time.time()
    agent = agents(server, "edge-a1")
    series = wait_for(
        lambda: _get(server, "/api/v1/series", q="host=edge-a1")["series"], timeout=30
    )
    assert all(s["labels"]["host"] == "edge-a1" for s in series)
    assert "system.cpu.utilization" in {s["name"] for s in series}
    listed = wait_for(
        lambda: [a for a in _get(server, "/api/v1/agents")["agents"] if a["id"] == "edge-a1"]
    )[0]
    assert listed["version"] == __version__
    assert listed["hostname"] == socket.gethostname()
    assert before - 1 <= listed["last_seen"] <= time.time() + 1
    assert listed["first_seen"] <= listed["last_seen"]
    assert listed["online"] is True
    assert listed["token"] == "agents"
    assert any(c["name"] == "host.cpu" and c["state"] == "ok" for c in listed["collectors"])
    local = _get(server, "/api/v1/agents")["local"]
    assert local["version"] == __version__
    code, output = agent.stop()
    assert code == 0, output
    # The heartbeat is machine traffic: not in the audit log (an admin reads the log).
    admin = create_token(server.data_dir, "admin", name="auditor")
    audit = httpx.get(
        f"{server.url}/api/v1/audit", headers={"Authorization": f"Bearer {admin}"}, timeout=10
    ).json()
    assert not [e for e in audit["entries"] if e["path"] == "/api/v1/agents/heartbeat"]


def test_a_viewer_token_cannot_report_as_an_agent(server) -> None:  # type: ignore[no-untyped-def]
    r = httpx.post(
        f"{server.url}/api/v1/agents/heartbeat",
        json={"id": "x"},
        headers={"Authorization": f"Bearer {server.viewer}"},
        timeout=10,
    )
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    bad = httpx.post(
        f"{server.url}/api/v1/agents/heartbeat",
        json={"id": "no spaces allowed"},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=10,
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_no_sample_is_lost_or_doubled_across_server_kills(server, agents) -> None:  # type: ignore[no-untyped-def]
    since = time.time() - 5
    agent = agents(server, "edge-k9")
    for _round in range(3):
        sent = agent.stats().get("sent_batches", 0)
        wait_for(lambda s=sent: agent.stats().get("sent_batches", 0) >= s + 5, timeout=30)
        server.kill9()  # pushes go out every 0.2 s: one is often in flight
        produced = agent.stats()["produced_batches"]
        # The agent keeps sampling into its spool while the server is away.
        wait_for(
            lambda p=produced: (
                agent.stats()["produced_batches"] >= p + 8
                and agent.stats()["spool"]["batches"] >= 5
            ),
            timeout=30,
        )
        server.start()  # the same port and data dir
    wait_for(lambda: agent.stats()["spool"]["batches"] == 0, timeout=60)
    code, output = agent.stop()
    assert code == 0, output
    stats = agent.stats()
    assert stats["spool"]["batches"] == 0  # drained on stop
    assert stats["spool"]["dropped_batches"] == 0
    assert stats["sent_batches"] == stats["produced_batches"]
    points = _stored(server, "edge-k9", since)
    doubled = {k: n for k, n in points.items() if n > 1}
    assert not doubled, f"{len(doubled)} samples stored twice"
    assert sum(points.values()) == stats["produced_samples"]
    assert stats["produced_samples"] > 200


def test_over_tls_the_agent_checks_the_server_certificate(tmp_path: Path, agents) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "tls-server"
    data.mkdir()
    cert, key, _pem = _self_signed(data)
    node = TlsNode(data, cert, key)
    node.token = create_token(data, "operator", name="agents")  # type: ignore[attr-defined]
    node.start()
    try:
        trusting = agents(node, "edge-tls", "--ca-file", str(cert))
        doubting = agents(node, "edge-untrusting")
        wait_for(lambda: trusting.stats().get("sent_batches", 0) >= 3, timeout=30)
        wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in doubting.stats().get("last_error", ""))
        assert doubting.stats()["sent_batches"] == 0
        assert doubting.stats()["spool"]["batches"] > 0  # kept until the server can be trusted
    finally:
        assert node.stop() == 0


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("sentra_abc_def")
    token_file.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
    argv = [SENTRA, "agent", "--server", "http://127.0.0.1:9", "--token-file", str(token_file)]
    done = subprocess.run(
        [*argv, "--data-dir", str(tmp_path / "d")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "chmod 600" in done.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was written
