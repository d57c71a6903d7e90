"""The nginx actuator against a real nginx in front of two real HTTP servers on loopback.

Each test runs its own nginx (``-p tmp -c nginx.conf -e error.log -g 'daemon off; pid ...;'``,
one worker) whose upstream block includes the file the actuator writes. After every reload
the test waits until the old worker has gone and a new one serves, then counts real requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sentra.rollout.actuators import build_actuator
from sentra.rollout.actuators.base import ActuatorError, Weights
from sentra.rollout.actuators.config import NginxConfig
from sentra.rollout.actuators.nginx import NginxActuator
from tests.nodeproc import free_port
from tests.proxies import count_split, name_servers, require_binary

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REQUESTS = 1000
TOLERANCE = 30

require_binary(NGINX, "nginx")


@pytest.fixture
def backends() -> Iterator[dict[str, int]]:
    with name_servers() as ports:
        yield ports


@dataclass
class Nginx:
    prefix: Path
    conf: Path
    upstream: Path
    pid_file: Path
    error_log: Path
    port: int
    backends: dict[str, int]
    master: int

    @property
    def base_argv(self) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.error_log)]

    def workers(self) -> set[int]:
        children = Path(f"/proc/{self.master}/task/{self.master}/children")
        return {int(p) for p in children.read_text().split()}

    def wait_reloaded(self, before: set[int]) -> None:
        """Until exactly one worker runs and it is not one of ``before``."""
        deadline = time.monotonic() + 10
        while True:
            now = self.workers()
            if len(now) == 1 and not now & before:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"nginx did not reload: workers {before} -> {now}")
            time.sleep(0.01)

    def config(self, **changes: Any) -> NginxConfig:
        data: dict[str, Any] = {
            "type": "nginx",
            "upstream_file": str(self.upstream),
            "servers": {
                "stable": f"127.0.0.1:{self.backends['stable']}",
                "canary": f"127.0.0.1:{self.backends['canary']}",
            },
            "test_argv": [*self.base_argv, "-t"],
            "reload_argv": [*self.base_argv, "-g", f"pid {self.pid_file};", "-s", "reload"],
            "timeout_s": 10,
        }
        data.update(changes)
        return NginxConfig.model_validate(data)

    def actuator(self, **changes: Any) -> NginxActuator:
        built = build_actuator(self.config(**changes), name="checkout")
        assert isinstance(built, NginxActuator)
        return built


@pytest.fixture
def nginx(tmp_path: Path, backends: dict[str, int]) -> Iterator[Nginx]:
    port = free_port()
    upstream = tmp_path / "upstreams" / "checkout.conf"
    upstream.parent.mkdir()
    # What a person wrote before Sentra took over: two servers, equal weight.
    upstream.write_text(
        f"server 127.0.0.1:{backends['stable']};\nserver 127.0.0.1:{backends['canary']};\n"
    )
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"  {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""
{user}
worker_processes 1;
events {{ worker_connections 64; }}
http {{
  access_log off;
{temp}
  upstream checkout {{
    include {upstream};
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://checkout; }}
  }}
}}
"""
    )
    pid_file = tmp_path / "nginx.pid"
    error_log = tmp_path / "error.log"
    argv = [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(error_log)]
    proc = subprocess.Popen(
        [*argv, "-g", f"daemon off; pid {pid_file};"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    handle = Nginx(tmp_path, conf, upstream, pid_file, error_log, port, backends, proc.pid)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nginx exited with {proc.returncode}: {error_log.read_text()}")
            try:
                if pid_file.exists() and handle.workers() and count_split(port, 1):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"nginx did not come up within 10 s: {error_log.read_text()}")
            time.sleep(0.02)
        yield handle
    finally:
        workers = handle.workers() if proc.poll() is None else set()
        proc.terminate()  # SIGTERM: nginx's fast shutdown, workers included
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for pid in workers:  # a worker outliving its master would keep the port
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def apply(nginx: Nginx, act: NginxActuator, weights: Weights) -> bool:
    before = nginx.workers()
    result = asyncio.run(act.apply(weights))
    if result.changed:
        nginx.wait_reloaded(before)
    return result.changed


def assert_split(seen: Counter[str], canary: int) -> None:
    expected = REQUESTS * canary // 100
    assert sum(seen.values()) == REQUESTS
    assert abs(seen["canary"] - expected) <= TOLERANCE, seen
    assert abs(seen["stable"] - (REQUESTS - expected)) <= TOLERANCE, seen


def test_real_traffic_follows_the_weights_and_keeps_them_across_a_reload(nginx: Nginx) -> None:
    act = nginx.actuator()
    assert asyncio.run(act.read()) == Weights(stable=50, canary=50)  # the hand-written file

    assert apply(nginx, act, Weights(stable=70, canary=30))
    assert_split(count_split(nginx.port), canary=30)

    # Someone else reloads nginx (a config-management run): the split stays.
    before = nginx.workers()
    subprocess.run([*nginx.base_argv, "-g", f"pid {nginx.pid_file};", "-s", "reload"], check=True)
    nginx.wait_reloaded(before)
    assert_split(count_split(nginx.port), canary=30)

    assert apply(nginx, act, Weights(stable=0, canary=100))
    assert count_split(nginx.port) == Counter({"canary": REQUESTS})
    assert "down" in nginx.upstream.read_text()  # nginx refuses weight=0

    assert apply(nginx, act, Weights(stable=100, canary=0))
    assert count_split(nginx.port) == Counter({"stable": REQUESTS})
    assert asyncio.run(act.read()) == Weights(stable=100, canary=0)


def test_applying_the_same_weights_twice_writes_and_reloads_once(nginx: Nginx) -> None:
    act = nginx.actuator()
    assert apply(nginx, act, Weights(stable=70, canary=30))
    workers = nginx.workers()
    mtime = nginx.upstream.stat().st_mtime_ns
    result = asyncio.run(act.apply(Weights(stable=70, canary=30)))
    assert result.changed is False
    assert "already routes" in result.detail
    assert nginx.workers() == workers  # no reload
    assert nginx.upstream.stat().st_mtime_ns == mtime


def test_a_config_nginx_rejects_is_not_retryable_and_the_old_file_stays(nginx: Nginx) -> None:
    before = nginx.upstream.read_text()
    act = nginx.actuator(
        servers={"stable": f"127.0.0.1:{nginx.backends['stable']}", "canary": "127.0.0.1:99999"}
    )
    with pytest.raises(ActuatorError) as info:
        asyncio.run(act.apply(Weights(stable=70, canary=30)))
    assert info.value.retryable is False
    assert "rejected" in str(info.value) and "99999" in str(info.value)
    assert nginx.upstream.read_text() == before
    assert_split(count_split(nginx.port), canary=50)


def test_reload_by_hup_to_the_pid_file_applies_the_weights(nginx: Nginx) -> None:
    config = nginx.config()
    data = config.model_dump(exclude={"reload_argv"})
    act = NginxActuator(
        NginxConfig.model_validate({**data, "pid_file": str(nginx.pid_file)}), name="checkout"
    )
    assert apply(nginx, act, Weights(stable=80, canary=20))
    assert_split(count_split(nginx.port), canary=20)
