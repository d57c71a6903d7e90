"""The sampling loop: every collector on its own thread, on aligned ticks, within a budget.

Ticks fall on multiples of the interval (so series have a regular spacing, which the store
compresses to almost nothing). Each collector has one daemon worker thread and at most one
call in flight: a call that overruns its budget marks the collector ``stale`` and later
ticks skip it until the call returns, so a hung NFS mount, NVML call or Docker daemon
delays only its own readings and never the loop, the other collectors or the API.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from sentra.bus.base import Bus
from sentra.collect.base import Collector, CollectorUnavailable
from sentra.events import CollectorStatus, Samples

log = logging.getLogger(__name__)


class _Worker:
    """One daemon thread running one collector's calls (never joined on exit, so a call
    stuck in the kernel cannot keep the process alive)."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"collect-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fn, fut))
        return fut

    def stop(self) -> None:
        self._jobs.put(None)


class _Runner:
    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.worker = _Worker(collector.name)
        self.in_flight: concurrent.futures.Future[Any] | None = None
        self.started = 0.0


class SamplingLoop:
    def __init__(
        self,
        collectors: list[Collector],
        bus: Bus,
        *,
        interval: float,
        budget_fraction: float = 0.8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.interval = interval
        self.budget = interval * budget_fraction
        self.clock = clock
        self.runners = [_Runner(c) for c in collectors]
        self.ticks = 0

    async def run(self) -> None:
        try:
            while True:
                now = self.clock()
                tick = math.floor(now / self.interval + 1) * self.interval
                await asyncio.sleep(max(tick - now, 0))
                self.ticks += 1
                await asyncio.gather(*(self._tick(r, round(tick, 3)) for r in self.runners))
        finally:
            for r in self.runners:
                r.worker.stop()

    async def _tick(self, runner: _Runner, ts: float) -> None:
        name = runner.collector.name
        if runner.in_flight is not None and not runner.in_flight.done():
            late = self.clock() - runner.started
            self._status(name, ts, "stale", f"previous reading still running after {late:.1f} s")
            return
        runner.started = self.clock()
        fut = runner.worker.submit(lambda: runner.collector.collect(ts))
        runner.in_flight = fut
        waiter = asyncio.wrap_future(fut)
        done, _ = await asyncio.wait([waiter], timeout=self.budget)
        duration = (self.clock() - runner.started) * 1000
        if not done:
            # The late result is dropped; retrieve it so asyncio does not report it as lost.
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._status(name, ts, "stale", f"over its {self.budget:.2f} s budget", duration)
            return
        try:
            samples = waiter.result()
        except CollectorUnavailable as exc:
            self._status(name, ts, "absent", str(exc), duration)
            return
        except Exception as exc:
            log.warning("collector %s failed: %s", name, exc)
            self._status(name, ts, "error", f"{type(exc).__name__}: {exc}", duration)
            return
        self.bus.publish(f"metrics.collect.{name}", Samples(source=name, ts=ts, samples=samples))
        self._status(name, ts, "ok", "", duration, len(samples))

    def _status(
        self,
        name: str,
        ts: float,
        state: str,
        message: str,
        duration: float = 0.0,
        series: int = 0,
    ) -> None:
        self.bus.publish(
            "status.collector",
            CollectorStatus(
                source=name,
                ts=ts,
                state=state,
                message=message,
                duration_ms=round(duration, 2),
                series=series,
            ),
        )

    def close(self) -> None:
        for r in self.runners:
            try:
                r.collector.close()
            except Exception as exc:
                log.warning("closing collector %s: %s", r.collector.name, exc)
