"""Idempotency: event ids seen within a window are duplicates.

An id is an ingest ``id`` string, or an int the OTLP decoder derived from a span's trace and
span ids (``id_hash``). In memory each id is kept as its 64-bit Python ``hash``, in one set
and in the list of its minute of arrival (about 70 bytes per id, so the default bound of a
million ids costs ~70 MB; a collision among a million ids has odds of ~3e-8). ``hash`` of a
string is SipHash with a key drawn at random per process: computed in C it costs ~0.1 µs
where BLAKE2b through hashlib cost ~1.1 µs per id (a quarter of the whole per-event budget
of bench/ingest_throughput.py), and nobody outside the process can aim a collision at it.

Because that key changes on every start, the store's record (``dedupe_log``, one row per
commit) keeps the ids themselves (MessagePack, after the ``SID1`` tag), and ``load``
hashes them again at start; the record survives a restart that way. Records written
before this format (packed 64-bit BLAKE2b hashes) still load: OTLP ids match them, ingest
ids sent before the upgrade are forgotten.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence

import msgspec
import numpy as np

log = logging.getLogger(__name__)
TAG = b"SID1"
_blake = hashlib.blake2b
_from_bytes = int.from_bytes
_encode = msgspec.msgpack.encode
_decode = msgspec.msgpack.Decoder(list[str | int]).decode

EventId = str | int


def id_hash(event_id: str) -> int:
    """A stable 64-bit id derived from a string (the OTLP decoder's span ids)."""
    return _from_bytes(_blake(event_id.encode(), digest_size=8).digest(), "little")


def pack_ids(ids: Sequence[EventId]) -> bytes:
    """The store's record of ``ids`` (see ``load``)."""
    return TAG + _encode(ids) if ids else b""


class Deduper:
    """The remembered ids: one set of every hash (one lookup per id to judge a batch) and,
    per minute of arrival, the list of hashes first seen then (to expire them)."""

    def __init__(self, *, window_s: float = 600.0, max_ids: int = 1_000_000) -> None:
        self.window_s = window_s
        self.max_ids = max_ids
        self._all: set[int] = set()
        self._buckets: dict[int, list[int]] = {}
        self.evicted = 0

    @property
    def size(self) -> int:
        return len(self._all)

    def _bucket(self, ts: float) -> list[int]:
        key = int(ts // 60)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = []
        return bucket

    def filter(
        self, ids: Sequence[EventId | None], now: float
    ) -> tuple[list[bool] | None, list[int], list[EventId]]:
        """Mark duplicates (also repeats inside ``ids``) and remember the rest.

        Returns (is_duplicate per item, or None when there is none; the hashes remembered,
        for ``forget``; the new ids, for the store's record). A batch of fresh, distinct
        ids — the usual case — is judged with set operations only (C speed).
        """
        self.expire(now)
        given: Sequence[EventId] = (
            [i for i in ids if i is not None] if None in ids else ids  # type: ignore[assignment]
        )
        if not given:
            return None, [], []
        keys = list(map(hash, given))
        batch = set(keys)
        if len(batch) == len(keys) and self._all.isdisjoint(batch):
            self._remember(keys, batch, now)
            return None, keys, list(given)
        seen = batch & self._all
        dup: list[bool] = []
        fresh: list[int] = []
        fresh_ids: list[EventId] = []
        for event_id in ids:
            if event_id is None:
                dup.append(False)
                continue
            h = hash(event_id)
            if h in seen:
                dup.append(True)
            else:
                seen.add(h)
                fresh.append(h)
                fresh_ids.append(event_id)
                dup.append(False)
        self._remember(fresh, set(fresh), now)
        return dup, fresh, fresh_ids

    def _remember(self, keys: list[int], distinct: set[int], now: float) -> None:
        self._bucket(now).extend(keys)
        self._all |= distinct
        self._bound()

    def forget(self, keys: Iterable[int]) -> None:
        """Undo ``filter`` for ids whose batch could not be committed (rare: a failed
        commit), so that a retry of the same batch is not taken for a duplicate."""
        gone = set(keys)
        if not gone:
            return
        self._all -= gone
        for key, bucket in self._buckets.items():
            self._buckets[key] = [k for k in bucket if k not in gone]

    def load(self, rows: Iterable[tuple[float, bytes]]) -> int:
        """Rebuild from the store's record (at start); return how many ids were loaded."""
        n = 0
        for ts, blob in rows:
            if blob.startswith(TAG):
                try:
                    keys = list(map(hash, _decode(memoryview(blob)[len(TAG) :])))
                except msgspec.DecodeError:
                    log.warning("skipped a damaged row of the idempotency record (ts %.0f)", ts)
                    continue
            else:  # the first format: packed 64-bit BLAKE2b hashes
                keys = list(map(hash, np.frombuffer(blob, dtype="<u8").tolist()))
            self._bucket(ts).extend(keys)
            self._all.update(keys)
            n += len(keys)
        return n

    def expire(self, now: float) -> None:
        oldest = int((now - self.window_s) // 60)
        for key in [k for k in self._buckets if k < oldest]:
            self._all.difference_update(self._buckets.pop(key))

    def _bound(self) -> None:
        """Forget the oldest ids beyond ``max_ids``, a tenth of the bound at a time — from
        the oldest minute first, and within it in arrival order, so the bound holds even
        when more than ``max_ids`` ids arrive within one minute (at 150k events/s a minute
        brings 9 M)."""
        excess = len(self._all) - self.max_ids
        while excess > 0 and self._buckets:
            key = min(self._buckets)
            bucket = self._buckets[key]
            cut = max(excess, self.max_ids // 10)
            before = len(self._all)
            if cut >= len(bucket):
                self._all.difference_update(self._buckets.pop(key))
            else:
                self._all.difference_update(bucket[:cut])
                del bucket[:cut]
            self.evicted += before - len(self._all)
            excess = len(self._all) - self.max_ids
