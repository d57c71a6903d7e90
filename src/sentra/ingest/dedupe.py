"""Idempotency: event ids seen within a window are duplicates.

Ids are kept as 64-bit BLAKE2b hashes in per-minute buckets (about 60 bytes per id in
memory, so the default bound of a million ids costs ~60 MB; a collision among a million
ids has odds of ~3e-8). The store persists each committed batch's hashes as one blob
(``dedupe_log``), so the record survives a restart at the cost of 8 bytes per id and one
row per commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

_blake = hashlib.blake2b
_from_bytes = int.from_bytes


def id_hash(event_id: str) -> int:
    return _from_bytes(_blake(event_id.encode(), digest_size=8).digest(), "little")


class Deduper:
    def __init__(self, *, window_s: float = 600.0, max_ids: int = 1_000_000) -> None:
        self.window_s = window_s
        self.max_ids = max_ids
        self._buckets: dict[int, set[int]] = {}
        self.size = 0
        self.evicted = 0

    def _bucket(self, ts: float) -> set[int]:
        key = int(ts // 60)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = set()
        return bucket

    def filter(self, hashes: Sequence[int | None], now: float) -> tuple[list[bool], bytes]:
        """Mark duplicates (also repeats inside ``hashes``) and remember the rest.

        Returns (is_duplicate per item, packed new hashes for the store's record). The
        lookups against the remembered ids are set intersections (C speed), one per bucket.
        """
        self.expire(now)
        batch = {h for h in hashes if h is not None}
        seen: set[int] = set()
        for remembered in self._buckets.values():
            seen |= batch & remembered
        dup: list[bool] = []
        fresh: list[int] = []
        for h in hashes:
            if h is None:
                dup.append(False)
            elif h in seen:
                dup.append(True)
            else:
                seen.add(h)
                fresh.append(h)
                dup.append(False)
        self._bucket(now).update(fresh)
        self.size += len(fresh)
        self._bound()
        packed = np.array(fresh, dtype="<u8").tobytes() if fresh else b""
        return dup, packed

    def forget(self, packed: bytes) -> None:
        """Undo ``filter`` for ids whose batch could not be committed."""
        if not packed:
            return
        gone = set(np.frombuffer(packed, dtype="<u8").tolist())
        for bucket in self._buckets.values():
            before = len(bucket)
            bucket -= gone
            self.size -= before - len(bucket)

    def load(self, rows: Iterable[tuple[float, bytes]]) -> int:
        """Rebuild from the store's record (at start); return how many ids were loaded."""
        n = 0
        for ts, blob in rows:
            values = np.frombuffer(blob, dtype="<u8").tolist()
            self._bucket(ts).update(values)
            n += len(values)
        self.size = sum(len(b) for b in self._buckets.values())
        return n

    def expire(self, now: float) -> None:
        oldest = int((now - self.window_s) // 60)
        for key in [k for k in self._buckets if k < oldest]:
            self.size -= len(self._buckets.pop(key))

    def _bound(self) -> None:
        while self.size > self.max_ids and len(self._buckets) > 1:
            key = min(self._buckets)
            dropped = len(self._buckets.pop(key))
            self.size -= dropped
            self.evicted += dropped
