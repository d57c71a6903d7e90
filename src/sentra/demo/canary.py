"""`sentra demo canary`: a complete guarded rollout on loopback, in about a minute.

What runs, all owned by :func:`run_demo` and torn down in reverse order:

* a Sentra node in this process (temp data dir, its own port), with a demo token;
* two versions of the demo service (``service.py``): v1 healthy, v2 healthy or bad
  (5x the error rate, +50 % latency), each reporting its requests as OTLP spans;
* a traffic split: HAProxy (when installed) driven by the ``haproxy`` actuator over its
  admin socket, or the ``pull`` actuator with the load generator polling the weights;
* ~100 requests/s of synthetic load;
* the rollout spec below (steps 10 → 25 → 50 → 100, holds of 8 s, gates on p95 latency and
  error rate, a sequential judge on errors and latency), applied through the API.

The node decides; the demo only prints the decisions as they are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from sentra.demo.service import Behaviour, DemoService, LoadGenerator, SpanExporter

NAME = "demo"
Split = Literal["auto", "pull", "haproxy"]
TERMINAL = ("promoted", "rolled_back", "aborted", "failed")
HAPROXY_PATHS = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")

SPEC = """\
apiVersion: sentra/v1
kind: Rollout
name: {name}
description: sentra demo canary ({which} canary, {split} split)
target: {{service: demo, stable: v1, canary: v2}}
steps:
  - {{weight: 10, hold: 8s}}
  - {{weight: 25, hold: 8s}}
  - {{weight: 50, hold: 8s}}
  - {{weight: 100, hold: 8s}}
analysis:
  interval: 1s
  window: 30s
  warmup: 1s
  consecutive_breaches_to_rollback: 2
gates:
  - {{name: p95, query: latency_p95_ms, max: 80, min_samples: 30}}
  - {{name: errors, query: error_rate_pct, max: 10, min_samples: 20}}
judge:
  mode: sequential
  alpha: 0.01
  metrics:
    - {{name: errors, kind: errors, floor_pct: 50, min_samples: 20}}
    - {{name: latency, kind: latency, floor_pct: 10, min_samples: 20}}
actuator: {actuator}
"""


@dataclass(frozen=True)
class DemoOptions:
    bad: bool = False
    port: int | None = None
    keep: bool = False
    split: Split = "auto"
    rate: float = 100.0
    timeout_s: float = 80.0  # the rollout itself; start-up and clean-up come on top


@dataclass(frozen=True)
class DemoResult:
    phase: str  # the rollout's last phase (or "interrupted", "timed out")
    decisions: int
    seconds: float
    split: str

    @property
    def text(self) -> str:
        return {"promoted": "promoted", "rolled_back": "rolled back"}.get(self.phase, self.phase)


def find_haproxy() -> str | None:
    found = shutil.which("haproxy")
    if found:
        return found
    return next((p for p in HAPROXY_PATHS if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ splits


class PullSplit:
    """The pull actuator's other half: reads the weights every second, picks per request."""

    def __init__(self, api: httpx.AsyncClient, urls: dict[str, str], rng: random.Random) -> None:
        self.api = api
        self.urls = urls  # arm -> URL
        self.rng = rng
        self.canary = 0

    async def run(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                r = await self.api.get(f"/api/v1/rollouts/{NAME}/weights")
                if r.status_code == 200:
                    self.canary = int(r.json()["weights"]["canary"])
            await asyncio.sleep(1.0)

    def pick(self) -> str:
        arm = "canary" if self.rng.random() * 100 < self.canary else "stable"
        return self.urls[arm]


class Haproxy:
    """HAProxy in front of both versions: roundrobin by weight, an admin stats socket."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.socket = workdir / "haproxy.sock"
        self.port = free_port()
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def actuator(self) -> str:
        return (
            f"{{type: haproxy, socket: '{self.socket}', backend: demo, "
            "servers: {stable: v1, canary: v2}}"
        )

    async def start(self, stable: str, canary: str) -> None:
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(
            f"global\n  stats socket {self.socket} level admin\n  nbthread 1\n\n"
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n"
            "  timeout server 10s\n\n"
            f"frontend demo\n  bind 127.0.0.1:{self.port}\n  default_backend demo\n\n"
            f"backend demo\n  balance roundrobin\n  server v1 {stable} weight 100\n"
            f"  server v2 {canary} weight 0\n",
            encoding="utf-8",
        )
        log = (self.workdir / "haproxy.log").open("wb")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                self.binary, "-db", "-f", str(cfg), stdout=log, stderr=log
            )
        finally:
            log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.returncode is not None:
                text = (self.workdir / "haproxy.log").read_text(errors="replace")
                raise RuntimeError(f"haproxy exited with {self._proc.returncode}: {text[-500:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            if self.socket.exists():
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("haproxy did not start listening within 10 s")

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# ------------------------------------------------------------------------------ the demo


def _behaviours(bad: bool) -> tuple[Behaviour, Behaviour]:
    v1 = Behaviour("v1", latency_ms=25.0, sigma=0.35, error_rate=0.01)
    v2 = (
        v1.worse(errors=5.0, latency=1.5, version="v2")
        if bad
        else Behaviour("v2", v1.latency_ms, v1.sigma, v1.error_rate)
    )
    return v1, v2


def _listen(port: int | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port or 0))
    except OSError:
        sock.close()
        raise
    return sock


async def _wait_healthy(api: httpx.AsyncClient, node_task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if node_task.done():
            node_task.result()  # raises what stopped it
            raise RuntimeError("the node stopped during start-up")
        with contextlib.suppress(httpx.HTTPError):
            if (await api.get("/api/health")).status_code == 200:
                return
        await asyncio.sleep(0.05)
    raise RuntimeError("the node did not answer /api/health within 30 s")


async def run_demo(options: DemoOptions, say: Callable[[str], None]) -> DemoResult:
    """Run the whole demo; ``say`` prints one line. Cleans up everything it started."""
    from sentra.config import load_settings
    from sentra.node import Node

    haproxy_bin = find_haproxy() if options.split != "pull" else None
    if options.split == "haproxy" and haproxy_bin is None:
        raise RuntimeError("--split haproxy needs HAProxy (apt-get install haproxy)")
    split = "haproxy" if haproxy_bin else "pull"
    workdir = Path(tempfile.mkdtemp(prefix="sentra-demo-"))
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        sock = _listen(options.port)
        stack.callback(sock.close)
        port = int(sock.getsockname()[1])
        settings = load_settings(
            data_dir=workdir / "data",
            overrides={"server": {"host": "127.0.0.1", "port": port}, "collect": {"gpu": False}},
        )
        node = Node(settings, announce=lambda text: None)
        token = node.tokens.create("demo", "admin")
        node_task = asyncio.get_running_loop().create_task(node.run(sock=sock), name="node")

        async def stop_node() -> None:
            if node_task.done():  # it stopped on its own (Ctrl-C): its outcome is known
                return
            node.request_stop()
            await node_task

        stack.push_async_callback(stop_node)
        url = settings.dashboard_url
        api = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )
        stack.push_async_callback(api.aclose)
        await _wait_healthy(api, node_task)
        say(f"node up at {url} (data in {workdir})")

        exporter = SpanExporter(url, token)
        # Closed after the services (their last spans), and only sent while the node is up.
        stack.push_async_callback(lambda: exporter.close(flush=not node_task.done()))
        v1, v2 = (DemoService(b, exporter) for b in _behaviours(options.bad))
        for svc in (v1, v2):
            await svc.start()
            stack.push_async_callback(svc.close)
        tasks: list[asyncio.Task[None]] = []
        stack.push_async_callback(_cancel, tasks)
        exporter.start()

        rng = random.Random()
        if haproxy_bin:
            proxy = Haproxy(haproxy_bin, workdir)
            await proxy.start(v1.address, v2.address)
            stack.push_async_callback(proxy.stop)
            actuator = proxy.actuator()
            target = proxy.url
            load = LoadGenerator(lambda: target, rate=options.rate)
            say(f"traffic: HAProxy on 127.0.0.1:{proxy.port} in front of v1 and v2")
        else:
            pull = PullSplit(
                api, {"stable": f"http://{v1.address}/", "canary": f"http://{v2.address}/"}, rng
            )
            tasks.append(asyncio.get_running_loop().create_task(pull.run()))
            actuator = "{type: pull}"
            load = LoadGenerator(pull.pick, rate=options.rate)
            say("traffic: split by the load generator from GET /api/v1/rollouts/demo/weights")
        stack.push_async_callback(load.close)
        stack.push_async_callback(_cancel, tasks)  # stop the load before closing its client
        tasks.append(asyncio.get_running_loop().create_task(load.run()))
        which = "bad" if options.bad else "good"
        say(
            f"v1 (stable) and v2 ({which}: {_describe(v2.behaviour)}) get "
            f"{options.rate:.0f} requests/s"
        )

        spec = SPEC.format(name=NAME, which=which, split=split, actuator=actuator)
        r = await api.post(
            "/api/v1/rollouts", content=spec.encode(), headers={"Content-Type": "application/yaml"}
        )
        if r.status_code != 201:
            raise RuntimeError(f"the node refused the demo spec: {r.status_code} {r.text}")
        say(f"watch it in the dashboard: {url}/rollouts/{NAME}#token={token}")
        say(f"or in a terminal: sentra rollout watch {NAME} --url {url} --token {token}")
        phase, seen = await _follow(api, node_task, say, options.timeout_s)
        result = DemoResult(phase, seen, time.monotonic() - started, split)
        say(
            f"load: {load.sent} requests sent ({_answers(load)}); "
            f"{exporter.sent} spans sent to the node"
        )
        if options.keep and not node_task.done():
            say(f"--keep: the node stays up at {url} — press Ctrl-C to stop it")
            await asyncio.wait([node_task])
    return result


async def _follow(
    api: httpx.AsyncClient,
    node_task: asyncio.Task[None],
    say: Callable[[str], None],
    timeout_s: float,
) -> tuple[str, int]:
    """Print each new decision (polled every 0.5 s) until the rollout ends."""
    last_id = 0
    seen = 0
    phase = "pending"
    deadline = time.monotonic() + timeout_s
    while True:
        if node_task.done():
            return "interrupted", seen
        try:  # the phase first: a terminal phase's last decision is then in the list
            phase = (await api.get(f"/api/v1/rollouts/{NAME}")).json()["phase"]
            found = (await api.get(f"/api/v1/rollouts/{NAME}/decisions")).json()["decisions"]
        except (httpx.HTTPError, KeyError, ValueError):
            found = []
        for d in sorted(found, key=lambda d: int(d["id"])):
            if int(d["id"]) > last_id:
                last_id = int(d["id"])
                seen += 1
                say(_decision_text(d))
        if phase in TERMINAL:
            return phase, seen
        if time.monotonic() > deadline:
            with contextlib.suppress(httpx.HTTPError):
                await api.post(f"/api/v1/rollouts/{NAME}/abort")
            return "timed out", seen
        await asyncio.sleep(0.5)


def _decision_text(d: dict[str, Any]) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(float(d["ts"])))
    w = d.get("weights", {})
    return f"{when}  {d['kind']:<11} canary {w.get('canary', 0):>3}%  {d['reason']}"


def _describe(b: Behaviour) -> str:
    return f"median {b.latency_ms:.0f} ms, {100 * b.error_rate:.0f} % errors"


def _answers(load: LoadGenerator) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(load.answers.items())) or "no answers"


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
