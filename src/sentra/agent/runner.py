"""The agent: the node's collectors on this host, spooled to disk, pushed to a server.

The same collectors and ``SamplingLoop`` as ``sentra up`` publish on a private in-process
bus. The batcher takes every tick, adds ``host=<agent id>`` to each sample and, once per
interval, writes the batch to the spool (fsync'd) *before* anything is sent; the pusher
sends the oldest spooled batch, one at a time and in order, and lets the spool forget it
only after a 2xx. So a batch is lost only when the spool is past its bound (counted), never
because the server was away, restarted or killed mid-request (its idempotency takes care
of a batch sent twice). A heartbeat tells the server who this agent is, its version and
collectors, and how its spool stands; it is not spooled (the next one says the same).

``--stats-file`` keeps running totals (samples produced, sent, acknowledged as duplicates,
dropped) in a JSON file, written atomically after every batch: what tests and operators
count against the server's store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from sentra import __version__
from sentra.agent.push import Pusher, Retry
from sentra.agent.spool import Spool
from sentra.backoff import Backoff
from sentra.bus.memory import MemoryBus
from sentra.collect.base import Collector
from sentra.collect.loop import SamplingLoop
from sentra.events import CollectorStatus, Sample, Samples
from sentra.state.atomic import write_json_atomic

log = logging.getLogger("sentra.agent")


class _Metric(msgspec.Struct, gc=False):
    """One item of a native ingest batch (``ingest/model.py``)."""

    name: str
    value: float
    ts: float
    labels: dict[str, str]
    id: str


class _Body(msgspec.Struct):
    metrics: list[_Metric]


_encode = msgspec.msgpack.Encoder().encode


def encode_batch(samples: list[Sample], host: str, batch_id: str) -> bytes:
    """The ingest body of one batch: ``host`` added to every sample's labels, and every
    sample's id fixed as ``<batch id>.<index>`` (stable across replays)."""
    return _encode(
        _Body(
            [
                _Metric(s.name, s.value, s.ts, {**s.labels, "host": host}, f"{batch_id}.{i}")
                for i, s in enumerate(samples)
            ]
        )
    )


def default_agent_id() -> str:
    return socket.gethostname() or "agent"


@dataclass(frozen=True)
class AgentConfig:
    agent_id: str
    interval: float
    spool_dir: Path
    spool_max_bytes: int
    stats_file: Path | None = None
    heartbeat_s: float = 5.0
    drain_s: float = 5.0  # on stop, how long to keep sending the spool


@dataclass
class Totals:
    """Running totals since this agent process started (spool counters are lifetime)."""

    produced_batches: int = 0
    produced_samples: int = 0
    sent_batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected_batches: int = 0
    last_batch_ts: float | None = None
    last_error: str = ""
    collectors: dict[str, dict[str, Any]] = field(default_factory=dict)


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        collectors: list[Collector],
        pusher: Pusher,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.pusher = pusher
        self.backoff = backoff or Backoff()
        self.spool = Spool(config.spool_dir, max_bytes=config.spool_max_bytes)
        self.bus = MemoryBus()
        self.sampler = SamplingLoop(collectors, self.bus, interval=config.interval, clock=clock)
        self._ticks = self.bus.subscribe("metrics.collect.>", name="agent-batcher", maxsize=10_000)
        self._status = self.bus.subscribe("status.collector", name="agent-status", maxsize=1_000)
        self._pending: list[Sample] = []
        self._spooled = asyncio.Event()
        self._reported = asyncio.Event()  # every collector has had its first tick
        self.totals = Totals()
        self.hostname = socket.gethostname()

    async def run(self, stop: asyncio.Event) -> None:
        """Sample, spool and push until ``stop`` is set; then spool what is pending and
        send the spool for up to ``drain_s`` (what is left waits for the next run)."""
        spawn = asyncio.get_running_loop().create_task
        tasks = [
            spawn(self.sampler.run(), name="sampler"),
            spawn(self._batch(), name="batcher"),
            spawn(self._collector_states(), name="collector-states"),
            spawn(self._flush_every(), name="spooler"),
            spawn(self._push(), name="pusher"),
            spawn(self._heartbeats(), name="heartbeat"),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            while (item := self._ticks.get_nowait()) is not None:
                self._take(item[1])
            with contextlib.suppress(OSError):
                await self._flush()
            await self._drain()
            await self._write_stats()
            self.sampler.close()
            self.spool.close()
            await self.bus.close()
            await self.pusher.close()

    # ----------------------------------------------------------------- batching

    def _take(self, event: object) -> None:
        if isinstance(event, Samples):
            self._pending.extend(event.samples)

    async def _batch(self) -> None:
        async for _topic, event in self._ticks:
            self._take(event)

    async def _collector_states(self) -> None:
        async for _topic, event in self._status:
            if isinstance(event, CollectorStatus):
                self.totals.collectors[event.source] = {
                    "state": event.state,
                    "message": event.message,
                    "series": event.series,
                }
                if len(self.totals.collectors) >= len(self.sampler.runners):
                    self._reported.set()

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval)
            try:
                await self._flush()
            except OSError as exc:  # a full disk: the samples wait in memory, say so
                self.totals.last_error = f"cannot write the spool: {exc}"
                log.error("%s", self.totals.last_error)

    async def _flush(self) -> None:
        """Spool the pending samples as one batch (fsync'd), then wake the pusher."""
        if not self._pending:
            return
        samples, self._pending = self._pending, []
        body = encode_batch(samples, self.config.agent_id, secrets.token_hex(8))
        try:
            await asyncio.to_thread(self.spool.append, body, len(samples))
        except BaseException:
            self._pending[:0] = samples
            raise
        self.totals.produced_batches += 1
        self.totals.produced_samples += len(samples)
        self._spooled.set()
        await self._write_stats()

    # ----------------------------------------------------------------- pushing

    async def _send_oldest(self) -> bool:
        """Send the oldest spooled batch and forget it once taken; False when the spool is
        empty. Raises Retry when the server did not take it."""
        records = await asyncio.to_thread(self.spool.peek, 1)
        if not records:
            return False
        record = records[0]
        sent = await self.pusher.send(record.payload)
        await asyncio.to_thread(self.spool.ack, record)
        t = self.totals
        t.sent_batches += 1
        t.accepted += sent.accepted
        t.duplicates += sent.duplicates
        if sent.rejected:
            t.rejected_batches += 1
            log.error("the server refused a batch for good (see its dead letters)")
        t.last_batch_ts = self.clock()
        await self._write_stats()
        return True

    async def _push(self) -> None:
        """Send the spool in order, one batch at a time; back off while the server is away."""
        while True:
            self._spooled.clear()  # before looking: a batch spooled meanwhile wakes us
            try:
                if not await self._send_oldest():
                    await self._spooled.wait()
                    continue
            except Retry as exc:
                if exc.reason != self.totals.last_error:
                    log.warning("the server is not taking batches, spooling: %s", exc.reason)
                self.totals.last_error = exc.reason
                await asyncio.sleep(self.backoff.next_delay(exc.after))
                continue
            except Exception as exc:  # a full disk on ack, an odd answer: never stop pushing
                log.exception("sending a spooled batch failed")
                self.totals.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(self.backoff.next_delay())
                continue
            if self.backoff.failures:
                log.warning("the server is back; sending the spooled batches in order")
            self.backoff.reset()
            self.totals.last_error = ""

    async def _drain(self) -> None:
        """On stop: send what the spool holds while the server takes it, within the grace
        period (what is left is sent by the next run)."""

        async def send_all() -> None:
            while await self._send_oldest():
                pass

        with contextlib.suppress(Retry, TimeoutError):
            await asyncio.wait_for(send_all(), self.config.drain_s)

    # ----------------------------------------------------------------- reporting

    def heartbeat_body(self) -> dict[str, Any]:
        return {
            "id": self.config.agent_id,
            "hostname": self.hostname,
            "version": __version__,
            "interval_s": self.config.heartbeat_s,
            "sample_interval_s": self.config.interval,
            "collectors": [{"name": k, **v} for k, v in sorted(self.totals.collectors.items())],
            "spool": self.spool.stats().to_json(),
            "last_batch_ts": self.totals.last_batch_ts,
            "last_error": self.totals.last_error[:500],
        }

    async def _heartbeats(self) -> None:
        # The first one once every collector has reported (or a heartbeat period passed),
        # so that the server's list shows the collectors from the start.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._reported.wait(), self.config.heartbeat_s)
        while True:
            try:
                await self.pusher.heartbeat(self.heartbeat_body())
            except Retry as exc:
                log.debug("heartbeat not delivered: %s", exc.reason)
            await asyncio.sleep(self.config.heartbeat_s)

    def stats(self) -> dict[str, Any]:
        t = self.totals
        return {
            "agent_id": self.config.agent_id,
            "produced_batches": t.produced_batches,
            "produced_samples": t.produced_samples,
            "sent_batches": t.sent_batches,
            "accepted_samples": t.accepted,
            "duplicate_samples": t.duplicates,
            "rejected_batches": t.rejected_batches,
            "last_batch_ts": t.last_batch_ts,
            "last_error": t.last_error,
            "spool": self.spool.stats().to_json(),
        }

    async def _write_stats(self) -> None:
        if self.config.stats_file is None:
            return
        try:
            await asyncio.to_thread(write_json_atomic, self.config.stats_file, self.stats())
        except OSError as exc:
            log.warning("cannot write the stats file %s: %s", self.config.stats_file, exc)
