"""The single writer: every batch (collector ticks, ingest requests, OTLP) is committed here.

Requests hand their parsed batch to ``Ingestor.submit`` and await the commit: a 2xx is sent
only once the batch is in the database (accepted means durable). The writer drains every
job that is waiting and commits them together in one transaction (group commit), dedupes
ids, records dead letters in the same transaction, then publishes what it stored on the
bus for the live hub and the analysis.

Back-pressure: at most ``max_pending`` events may wait; a request that would exceed it is
refused at once with ``Overloaded`` (the API answers 429 with Retry-After), so memory stays
bounded whatever the offered load. Collector ticks are small and always admitted.

Placement: parsing, dedupe and bookkeeping run on the event loop; the transaction itself
runs on a worker thread (``asyncio.to_thread``), so the loop keeps reading requests and
serving reads while SQLite commits (it releases the GIL while it steps). Measured by
bench/store_write.py: pinned to one CPU the on-loop write is faster (259k vs 188k
samples/s) but stalls the loop (lag p99 66 ms vs 10 ms); on two CPUs the thread is faster
too (221k vs 192k) — the node has the cores and cares about its loop's latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentra.bus.base import Bus, Subscription
from sentra.events import LogRecord, Logs, Sample, Samples, Span, Spans
from sentra.ingest.dedupe import Deduper
from sentra.store.sqlite import SqliteStore
from sentra.store.sqlite.records import DeadLetter

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """Too much is waiting to be written; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, pending: int) -> None:
        super().__init__(f"{pending} events are waiting to be written")
        self.retry_after = retry_after
        self.pending = pending


@dataclass
class CommitResult:
    samples: int = 0
    logs: int = 0
    spans: int = 0
    duplicates: int = 0
    deadletters: int = 0


@dataclass
class Job:
    source: str
    samples: Sequence[Sample] = ()
    sample_ids: Sequence[int | None] = ()
    logs: Sequence[LogRecord] = ()
    log_ids: Sequence[int | None] = ()
    spans: Sequence[Span] = ()
    span_ids: Sequence[int | None] = ()
    deadletters: Sequence[DeadLetter] = ()
    future: asyncio.Future[CommitResult] | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.samples) + len(self.logs) + len(self.spans) + len(self.deadletters)


@dataclass
class _Batch:
    """Jobs gathered for one transaction, duplicates already dropped."""

    now: float
    samples: list[Sample] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    events: int = 0
    done: list[tuple[Job, CommitResult, list[Any], list[Any], list[Any]]] = field(
        default_factory=list
    )


class Ingestor:
    def __init__(
        self,
        store: SqliteStore,
        bus: Bus,
        deduper: Deduper,
        *,
        max_pending: int = 200_000,
        max_batch: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.deduper = deduper
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.clock = clock
        self._jobs: list[Job] = []
        self._wake = asyncio.Event()
        self.pending = 0
        self.committed_events = 0
        self.commits = 0
        self.rejected_overload = 0
        self.failures = 0
        self._rate_events = 0
        self._rate_since = clock()
        self.rate = 0.0  # events/s committed, smoothed over ~1 s

    def submit(self, job: Job, *, force: bool = False) -> asyncio.Future[CommitResult]:
        """Queue a job; the future resolves once it is committed (or fails)."""
        size = job.size
        if not force and self.pending + size > self.max_pending:
            self.rejected_overload += 1
            # Roughly how long the queue takes to drain at the current rate.
            retry = max(1.0, min(30.0, self.pending / max(self.rate, 1000.0)))
            raise Overloaded(retry, self.pending)
        job.future = asyncio.get_running_loop().create_future()
        self._jobs.append(job)
        self.pending += size
        self._wake.set()
        return job.future

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._jobs:
                batch = self._prepare(self._take())
                try:
                    await asyncio.to_thread(self._write, batch)
                except Exception as exc:
                    self._failed(batch, exc)
                else:
                    self._finish(batch)

    def commit_waiting(self) -> None:
        """Commit the jobs waiting now (up to ``max_batch`` events) in one transaction,
        on the calling thread (used on shutdown)."""
        batch = self._prepare(self._take())
        try:
            self._write(batch)
        except Exception as exc:
            self._failed(batch, exc)
        else:
            self._finish(batch)

    def _take(self) -> list[Job]:
        take, n = 0, 0
        while take < len(self._jobs) and (n < self.max_batch or take == 0):
            n += self._jobs[take].size
            take += 1
        jobs, self._jobs = self._jobs[:take], self._jobs[take:]
        self.pending -= n
        return jobs

    def _prepare(self, jobs: list[Job]) -> _Batch:
        """Drop duplicates (in arrival order) and gather everything into one write."""
        batch = _Batch(now=self.clock())
        for job in jobs:
            res = CommitResult(deadletters=len(job.deadletters))
            kept: list[list[Any]] = []
            for items, ids in (
                (job.samples, job.sample_ids),
                (job.logs, job.log_ids),
                (job.spans, job.span_ids),
            ):
                if ids:
                    dup, blob = self.deduper.filter(ids, batch.now)
                    res.duplicates += sum(dup)
                    if blob:
                        batch.hashes.append(blob)
                    kept.append([item for item, d in zip(items, dup, strict=True) if not d])
                else:
                    kept.append(list(items))
            ks, kl, kp = kept
            res.samples, res.logs, res.spans = len(ks), len(kl), len(kp)
            batch.samples.extend(ks)
            batch.logs.extend(kl)
            batch.spans.extend(kp)
            batch.deadletters.extend(job.deadletters)
            batch.events += job.size
            batch.done.append((job, res, ks, kl, kp))
        return batch

    def _write(self, batch: _Batch) -> None:
        self.store.write(
            samples=batch.samples,
            logs=batch.logs,
            spans=batch.spans,
            dedupe_hashes=b"".join(batch.hashes),
            deadletters=batch.deadletters,
        )

    def _failed(self, batch: _Batch, exc: Exception) -> None:
        self.failures += 1
        self.deduper.forget(b"".join(batch.hashes))
        log.error("could not commit %d events: %s", batch.events, exc)
        for job, *_ in batch.done:
            if job.future is not None and not job.future.done():
                job.future.set_exception(exc)

    def _finish(self, batch: _Batch) -> None:
        self.commits += 1
        self.committed_events += batch.events
        self._count_rate(batch.events, batch.now)
        for job, res, ks, kl, kp in batch.done:
            if job.future is not None and not job.future.done():
                job.future.set_result(res)
            if job.source.startswith("collect."):
                continue  # already on the bus: the sampling loop published it
            if ks:
                self.bus.publish(f"metrics.{job.source}", Samples(job.source, batch.now, ks))
            if kl:
                self.bus.publish(f"logs.{job.source}", Logs(job.source, batch.now, kl))
            if kp:
                self.bus.publish(f"spans.{job.source}", Spans(job.source, batch.now, kp))

    def _count_rate(self, n: int, now: float) -> None:
        self._rate_events += n
        elapsed = now - self._rate_since
        if elapsed >= 1.0:
            self.rate = self._rate_events / elapsed
            self._rate_events = 0
            self._rate_since = now

    def flush(self) -> None:
        """Commit everything still waiting (on shutdown)."""
        while self._jobs:
            self.commit_waiting()

    async def forward_collectors(self, sub: Subscription) -> None:
        """Store every collector tick published on the bus (``metrics.collect.*``)."""
        async for _topic, event in sub:
            if isinstance(event, Samples) and event.samples:
                fut = self.submit(
                    Job(source=f"collect.{event.source}", samples=event.samples), force=True
                )
                fut.add_done_callback(_swallow)


def _swallow(fut: asyncio.Future[CommitResult]) -> None:
    with contextlib.suppress(asyncio.CancelledError, Exception):
        fut.exception()
