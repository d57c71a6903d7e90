"""The single writer: every batch (collector ticks, ingest requests, OTLP) is committed here.

Requests hand their parsed batch to ``Ingestor.submit`` and await the commit: a 2xx is sent
only once the batch is in the database (accepted means durable). The writer drains every
job that is waiting and commits them together in one transaction (group commit), dedupes
ids, records dead letters in the same transaction, then publishes what it stored on the
bus for the live hub and the analysis.

Back-pressure: at most ``max_pending`` events may wait; a request that would exceed it is
refused at once with ``Overloaded`` (the API answers 429 with Retry-After), so memory stays
bounded whatever the offered load. Collector ticks are small and always admitted.

Placement: parsing, dedupe and bookkeeping run on the event loop; the transaction runs on a
worker thread (``asyncio.to_thread``); seals and WAL checkpoints run on worker threads
*between* commits (a seal in the background, commits going on; a checkpoint awaited, so
that no frame is added while it copies and the WAL starts over afterwards). Both commit
placements were measured with bench/ingest_throughput.py (15 s, 2 x 4 connections of
1,000-event batches, the 2 cores shared with other jobs at load 2.4-2.6): on the loop
82,400 and 102,000 events/s with staleness p95 444 and 249 ms; on a worker thread 89,800
and 70,500 events/s with staleness p95 135 and 172 ms. Throughput is the same within the
noise (node CPU ~8.5-9.5% per 10k events/s either way); the thread keeps the loop free
to answer everything else, so it stays. ``on_loop=True`` keeps the other placement for
measuring (``SqliteStore.try_write`` never blocks the loop on the writer lock).
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
from sentra.ingest.dedupe import Deduper, EventId, pack_ids
from sentra.ingest.model import SampleColumns
from sentra.store.records import DeadLetter
from sentra.store.sqlite import SqliteStore

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
    samples: Sequence[Sample] | SampleColumns = ()
    sample_ids: Sequence[EventId | None] = ()
    logs: Sequence[LogRecord] = ()
    log_ids: Sequence[EventId | None] = ()
    spans: Sequence[Span] = ()
    span_ids: Sequence[EventId | None] = ()
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
    columns: list[SampleColumns] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)  # dedupe hashes remembered (to forget)
    record: list[EventId] = field(default_factory=list)  # the new ids, for the store
    events: int = 0
    done: list[tuple[Job, CommitResult, Any, list[Any], list[Any]]] = field(default_factory=list)

    def write_args(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "columns": self.columns,
            "logs": self.logs,
            "spans": self.spans,
            "dedupe_record": pack_ids(self.record),
            "deadletters": self.deadletters,
        }


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
        on_loop: bool = False,  # see the module docstring
    ) -> None:
        self.store = store
        self.on_loop = on_loop
        self.bus = bus
        self.deduper = deduper
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.clock = clock
        self._jobs: list[Job] = []
        self._sealing: asyncio.Task[int] | None = None
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
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._jobs:
                    await self._housekeeping()
                    batch = self._prepare(self._take())
                    try:
                        await self._commit(batch)
                    except Exception as exc:
                        self._failed(batch, exc)
                    else:
                        self._finish(batch)
                    # Let the requests that arrived during the commit be read and queued
                    # (and the answers just released be sent) before the next one.
                    await asyncio.sleep(0)
        finally:
            if self._sealing is not None:
                self._sealing.cancel()  # the thread finishes its seal on its own
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._sealing

    async def _commit(self, batch: _Batch) -> None:
        args = batch.write_args()
        if not self.on_loop or self.store.try_write(**args) is None:
            await asyncio.to_thread(self.store.write, deferred=True, **args)

    async def _housekeeping(self) -> None:
        """Between commits: start a seal of a full head on a worker thread (commits go on
        meanwhile), and checkpoint the WAL on a worker thread (awaited: no frame is added
        while it copies, so the WAL starts over from its beginning afterwards)."""
        store = self.store
        if store.seal_due and self._sealing is None:
            self._sealing = asyncio.get_running_loop().create_task(
                asyncio.to_thread(store.seal, wait=False), name="seal"
            )
            self._sealing.add_done_callback(self._sealed)
        if store.checkpoint_due:
            try:
                await asyncio.to_thread(store.checkpoint_wal)
            except Exception:
                log.exception("the WAL checkpoint failed; the writer goes on")

    def _sealed(self, task: asyncio.Task[int]) -> None:
        self._sealing = None
        if not task.cancelled() and task.exception() is not None:
            log.error("sealing the head failed: %s", task.exception())

    def commit_waiting(self) -> None:
        """Commit the jobs waiting now (up to ``max_batch`` events) in one transaction,
        on the calling thread (used on shutdown)."""
        batch = self._prepare(self._take())
        try:
            self.store.write(**batch.write_args())
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
            ks: Any = self._unseen(batch, res, job.samples, job.sample_ids)
            kl: list[Any] = self._unseen(batch, res, job.logs, job.log_ids)
            kp: list[Any] = self._unseen(batch, res, job.spans, job.span_ids)
            res.samples, res.logs, res.spans = len(ks), len(kl), len(kp)
            if isinstance(ks, SampleColumns):
                batch.columns.append(ks)
            else:
                batch.samples.extend(ks)
            batch.logs.extend(kl)
            batch.spans.extend(kp)
            batch.deadletters.extend(job.deadletters)
            batch.events += job.size
            batch.done.append((job, res, ks, kl, kp))
        return batch

    def _unseen(
        self, batch: _Batch, res: CommitResult, items: Any, ids: Sequence[EventId | None]
    ) -> Any:
        """The items whose id was not seen before (all of them when they carry none)."""
        if not ids:
            return items if isinstance(items, SampleColumns) else list(items)
        dup, keys, record = self.deduper.filter(ids, batch.now)
        batch.keys.extend(keys)
        batch.record.extend(record)
        if dup is None:
            return items if isinstance(items, SampleColumns) else list(items)
        res.duplicates += sum(dup)
        if isinstance(items, SampleColumns):
            return items.without(dup)
        return [item for item, d in zip(items, dup, strict=True) if not d]

    def _failed(self, batch: _Batch, exc: Exception) -> None:
        self.failures += 1
        self.deduper.forget(batch.keys)
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
                samples = ks.samples() if isinstance(ks, SampleColumns) else ks
                self.bus.publish(f"metrics.{job.source}", Samples(job.source, batch.now, samples))
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
