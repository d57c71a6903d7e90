"""The HAProxy actuator against a real HAProxy in front of two real HTTP servers on loopback.

Each test writes its own haproxy.cfg (admin stats socket, one frontend, one ``roundrobin``
backend with a ``stable`` and a ``canary`` server), starts HAProxy as a subprocess and kills
it afterwards. The split is counted from real requests through the frontend.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sentra.rollout.actuators import build_actuator
from sentra.rollout.actuators.base import ActuatorError, Weights
from sentra.rollout.actuators.config import HaproxyConfig
from sentra.rollout.actuators.haproxy import HaproxyActuator
from tests.nodeproc import free_port
from tests.proxies import count_split, name_servers, require_binary

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
REQUESTS = 1000
TOLERANCE = 30  # requests out of 1,000; roundrobin over one thread is close to exact

require_binary(HAPROXY, "haproxy")


@pytest.fixture
def backends() -> Iterator[dict[str, int]]:
    with name_servers() as ports:
        yield ports


# ---------------------------------------------------------------------- haproxy


@dataclass
class Haproxy:
    socket: Path
    port: int
    log: Path


def _runtime(sock: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


@pytest.fixture
def haproxy(tmp_path: Path, backends: dict[str, int]) -> Iterator[Haproxy]:
    sock = tmp_path / "admin.sock"
    port = free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        f"""
global
  stats socket {sock} level admin
  nbthread 1

defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s

frontend web
  bind 127.0.0.1:{port}
  default_backend checkout

backend checkout
  balance roundrobin
  server stable 127.0.0.1:{backends["stable"]} weight 1
  server canary 127.0.0.1:{backends["canary"]} weight 1
"""
    )
    log = tmp_path / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"haproxy exited with {proc.returncode}: {log.read_text()}")
            try:
                if "Name: HAProxy" in _runtime(sock, "show info"):
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"haproxy did not come up within 10 s: {log.read_text()}")
            time.sleep(0.02)
        yield Haproxy(sock, port, log)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def actuator(h: Haproxy, **changes: object) -> HaproxyActuator:
    data: dict[str, object] = {
        "type": "haproxy",
        "socket": str(h.socket),
        "backend": "checkout",
        "servers": {"stable": "stable", "canary": "canary"},
        "timeout_s": 2,
    }
    data.update(changes)
    built = build_actuator(HaproxyConfig.model_validate(data), name="checkout")
    assert isinstance(built, HaproxyActuator)
    return built


def assert_split(seen: Counter[str], canary: int) -> None:
    expected = REQUESTS * canary // 100
    assert sum(seen.values()) == REQUESTS
    assert abs(seen["canary"] - expected) <= TOLERANCE, seen
    assert abs(seen["stable"] - (REQUESTS - expected)) <= TOLERANCE, seen


# ---------------------------------------------------------------------- tests


def test_real_traffic_follows_30_then_100_then_0_percent_canary(haproxy: Haproxy) -> None:
    act = actuator(haproxy)

    async def apply(canary: int) -> None:
        result = await act.apply(Weights.for_canary(canary))
        assert result.changed
        assert "checkout" in result.detail and str(haproxy.socket) in result.detail

    asyncio.run(apply(30))
    assert_split(count_split(haproxy.port), canary=30)
    asyncio.run(apply(100))
    seen = count_split(haproxy.port)
    assert seen == Counter({"canary": REQUESTS})
    asyncio.run(apply(0))
    seen = count_split(haproxy.port)
    assert seen == Counter({"stable": REQUESTS})


def test_applying_the_same_weights_twice_is_one_change(haproxy: Haproxy) -> None:
    act = actuator(haproxy)

    async def run() -> tuple[bool, bool, Weights | None]:
        first = await act.apply(Weights(stable=70, canary=30))
        second = await act.apply(Weights(stable=70, canary=30))
        return first.changed, second.changed, await act.read()

    first, second, read = asyncio.run(run())
    assert (first, second) == (True, False)
    assert read == Weights(stable=70, canary=30)
    assert _runtime(haproxy.socket, "get weight checkout/canary").startswith("30 ")


def test_read_reports_the_configured_weights_as_percent(haproxy: Haproxy) -> None:
    # haproxy.cfg gives both servers weight 1: that is a 50/50 split.
    assert asyncio.run(actuator(haproxy).read()) == Weights(stable=50, canary=50)


def test_wrong_backend_is_not_retryable_and_names_the_backend(haproxy: Haproxy) -> None:
    act = actuator(haproxy, backend="chekout")
    with pytest.raises(ActuatorError) as info:
        asyncio.run(act.apply(Weights(stable=70, canary=30)))
    assert info.value.retryable is False
    assert "no backend 'chekout'" in str(info.value)
    assert "No such backend" in str(info.value)
    # Nothing moved: the real backend still has its configured weights.
    assert _runtime(haproxy.socket, "get weight checkout/canary").startswith("1 ")


def test_wrong_server_is_not_retryable_and_moves_nothing(haproxy: Haproxy) -> None:
    act = actuator(haproxy, servers={"stable": "stable", "canary": "canery"})
    with pytest.raises(ActuatorError) as info:
        asyncio.run(act.apply(Weights(stable=70, canary=30)))
    assert info.value.retryable is False
    assert "no server 'canery'" in str(info.value)
    assert _runtime(haproxy.socket, "get weight checkout/stable").startswith("1 ")


def test_socket_that_nobody_listens_on_is_retryable(tmp_path: Path) -> None:
    config = HaproxyConfig.model_validate(
        {
            "type": "haproxy",
            "socket": str(tmp_path / "absent.sock"),
            "backend": "checkout",
            "servers": {"stable": "stable", "canary": "canary"},
        }
    )
    with pytest.raises(ActuatorError) as info:
        asyncio.run(HaproxyActuator(config, name="checkout").apply(Weights(70, 30)))
    assert info.value.retryable is True
    assert "absent.sock" in str(info.value)


def test_baseline_weight_without_a_baseline_server_is_refused(haproxy: Haproxy) -> None:
    with pytest.raises(ActuatorError) as info:
        asyncio.run(actuator(haproxy).apply(Weights(stable=40, canary=30, baseline=30)))
    assert info.value.retryable is False
    assert "no baseline server" in str(info.value)
