"""The demo's service (a real HTTP server per version, reporting spans) and its load.

Each :class:`DemoService` listens on a loopback port (stdlib asyncio streams, HTTP/1.1 with
keep-alive) and answers ``GET /`` after a lognormal latency, failing a share of requests
with 500. Every request becomes one OTLP span (kind SERVER, status error on 5xx) handed to
a :class:`SpanExporter`, which posts them to the node's ``/v1/traces`` as OTLP/JSON in
batches every ~0.5 s with ``service.name`` = ``demo`` and ``service.version`` = the version.
:class:`LoadGenerator` sends the synthetic traffic, each request where a splitter says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

SERVICE = "demo"
_SERVER_KIND = 2  # SPAN_KIND_SERVER
_ERROR, _OK = 2, 1  # STATUS_CODE_ERROR, STATUS_CODE_OK
_MAX_HEADER = 16 * 1024


@dataclass(frozen=True)
class Behaviour:
    """How one version answers: median latency, spread (sigma of log-latency), error share."""

    version: str
    latency_ms: float = 25.0
    sigma: float = 0.35
    error_rate: float = 0.01

    def worse(self, *, errors: float = 5.0, latency: float = 1.5, version: str = "") -> Behaviour:
        """A bad release: ``errors`` times the error rate, ``latency`` times the latency."""
        return Behaviour(
            version or self.version,
            self.latency_ms * latency,
            self.sigma,
            min(1.0, self.error_rate * errors),
        )


class SpanExporter:
    """Collects spans per version and posts them as OTLP/JSON every ``interval`` seconds."""

    def __init__(self, url: str, token: str, *, interval: float = 0.5) -> None:
        self.interval = interval
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
        )
        self.sent = 0
        self.failed_batches = 0
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, version: str, start_ns: int, end_ns: int, status: int, path: str) -> None:
        self._pending.setdefault(version, []).append(
            {
                "traceId": secrets.token_hex(16),
                "spanId": secrets.token_hex(8),
                "name": f"GET {path}",
                "kind": _SERVER_KIND,
                "startTimeUnixNano": str(start_ns),
                "endTimeUnixNano": str(end_ns),
                "attributes": [
                    {"key": "http.request.method", "value": {"stringValue": "GET"}},
                    {"key": "http.response.status_code", "value": {"intValue": str(status)}},
                ],
                "status": {"code": _ERROR if status >= 500 else _OK},
            }
        )

    async def flush(self) -> None:
        """Post what is pending (one request for every version)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        body = {"resourceSpans": [_resource_spans(v, spans) for v, spans in pending.items()]}
        n = sum(len(s) for s in pending.values())
        try:
            r = await self._http.post("/v1/traces", json=body)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            self.failed_batches += 1
            log.warning("demo: could not send %d spans to the node: %s", n, exc)
            return
        self.sent += n

    def start(self) -> None:
        """Send a batch every ``interval`` until :meth:`close`."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="demo-spans")

    async def _run(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.interval)
            if not self._closing.is_set():
                await self.flush()

    async def close(self, *, flush: bool = True) -> None:
        """Stop after the batch in flight (never cut a request off); send the rest unless
        ``flush`` is False (the node is gone)."""
        self._closing.set()
        if self._task is not None:
            await self._task
        if flush:
            await self.flush()
        self._pending.clear()
        await self._http.aclose()


def _resource_spans(version: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resource": {
            "attributes": [
                {"key": "service.name", "value": {"stringValue": SERVICE}},
                {"key": "service.version", "value": {"stringValue": version}},
            ]
        },
        "scopeSpans": [{"scope": {"name": "sentra.demo"}, "spans": spans}],
    }


class DemoService:
    """One version of the demo service on a loopback port."""

    def __init__(
        self, behaviour: Behaviour, exporter: SpanExporter, *, rng: random.Random | None = None
    ) -> None:
        self.behaviour = behaviour
        self.exporter = exporter
        self.rng = rng or random.Random()
        self.port = 0
        self.requests = 0
        self.errors = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def version(self) -> str:
        return self.behaviour.version

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def _latency_s(self) -> float:
        b = self.behaviour
        return b.latency_ms * math.exp(self.rng.gauss(0.0, b.sigma)) / 1000.0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                start_ns = time.time_ns()
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                path = parts[1] if len(parts) > 1 else "/"
                close = any(h.lower() == "connection: close" for h in lines[1:])
                latency = self._latency_s()
                await asyncio.sleep(latency)
                failed = self.rng.random() < self.behaviour.error_rate
                status = 500 if failed else 200
                body = (f"{self.version} failed\n" if failed else f"{self.version}\n").encode()
                if writer.is_closing():  # the service is shutting down
                    return
                writer.write(
                    f"HTTP/1.1 {status} {'Internal Server Error' if failed else 'OK'}\r\n"
                    f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                    f"X-Version: {self.version}\r\n"
                    f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode()
                    + body
                )
                try:
                    await writer.drain()
                except OSError:
                    return
                self.requests += 1
                self.errors += failed
                # The span lasts the modelled service time, not the wall time to the answer:
                # on a busy machine (CI, a laptop compiling) the event loop wakes late, and
                # that scheduling delay would turn into "latency" of both versions and push
                # the absolute p95 gate over its bound. The demo is about the policy.
                end_ns = start_ns + round(latency * 1e9)
                self.exporter.add(self.version, start_ns, end_ns, status, path)
                if close:
                    return
        finally:
            if task is not None:
                self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        """Stop listening and close every open connection."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()  # a handler waiting for the next request sees EOF and returns
        # Let requests in flight finish (their latency is well under a second). Not cancel:
        # asyncio 3.11's stream callback raises on a cancelled handler task.
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2.0)
        await self._server.wait_closed()
        self._server = None


class LoadGenerator:
    """Synthetic load: ``rate`` GET requests per second, each to the URL ``pick()`` names.

    Requests are started on a fixed schedule (a few every 20 ms), not one after another, so a
    slow version does not lower the rate; at most ``max_inflight`` are open at once.
    """

    def __init__(
        self, pick: Callable[[], str], *, rate: float = 100.0, max_inflight: int = 64
    ) -> None:
        self.pick = pick
        self.rate = rate
        self.max_inflight = max_inflight
        self.sent = 0
        self.answers: Counter[str] = Counter()  # "v1 200", "v2 500", "error"
        self._inflight: set[asyncio.Task[None]] = set()
        self._http = httpx.AsyncClient(
            timeout=5.0, limits=httpx.Limits(max_connections=max_inflight)
        )

    async def _one(self, url: str) -> None:
        try:
            r = await self._http.get(url)
        except httpx.HTTPError:
            self.answers["error"] += 1
            return
        self.answers[f"{r.headers.get('x-version', '?')} {r.status_code}"] += 1

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = 0.02
        due = 0.0
        next_t = loop.time()
        while True:
            next_t += tick
            delay = next_t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:  # the loop stalled: carry on from now, no burst
                next_t = loop.time()
            due += self.rate * tick
            while due >= 1.0:
                due -= 1.0
                if len(self._inflight) >= self.max_inflight:
                    continue
                task = loop.create_task(self._one(self.pick()))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
                self.sent += 1

    async def close(self) -> None:
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        await self._http.aclose()
