"""The agent's disk spool: every batch is on disk before it is sent, until the server took it.

Batches are appended to segment files ``seg-<n>.log`` under ``<data dir>/spool/``; each
record is ``SPL1 | length | crc32 | samples | payload`` (little-endian u32s, the CRC over
the sample count and the payload) and is fsync'd before ``append`` returns, so a batch the
runner has handed over survives ``kill -9`` and a power cut. Records leave in the order
they came: ``peek`` gives the oldest not yet acknowledged, ``ack`` moves the cursor past
them once the server answered 2xx. The cursor and the counters live in ``state.json``
(written atomically), so a restarted agent neither resends what was taken nor forgets
what was dropped; a segment whose every record is acknowledged is deleted.

Bounded by bytes: when an append would take the spool past ``max_bytes``, whole segments
are dropped, oldest first, and their unsent batches and samples are counted (persisted):
data is lost only past the bound, and never silently. Segments are an eighth of the bound
(by default), so at most about that much goes at once.

A record cut short by a crash (a torn tail: header or payload incomplete, or a CRC that
does not match) is detected on open, counted as ``torn`` and cut off; everything before it
is kept. Nothing in a damaged file can make ``open`` raise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import msgspec

from sentra.state.atomic import read_json, write_json_atomic

log = logging.getLogger(__name__)
MAGIC = b"SPL1"
HEADER = struct.Struct("<4sIII")  # magic, payload length, crc32(count + payload), samples
MAX_RECORD = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One spooled batch: where it lies (for ``ack``), how many samples, and its bytes."""

    segment: int
    offset: int
    end: int
    samples: int
    payload: bytes


@dataclass(frozen=True)
class SpoolStats:
    batches: int  # waiting to be sent
    samples: int
    bytes: int  # on disk, every segment
    dropped_batches: int  # dropped past the bound, ever (persisted)
    dropped_samples: int
    torn: int  # damaged tails cut off at open, ever

    def to_json(self) -> dict[str, int]:
        return {
            "batches": self.batches,
            "samples": self.samples,
            "bytes": self.bytes,
            "dropped_batches": self.dropped_batches,
            "dropped_samples": self.dropped_samples,
            "torn": self.torn,
        }


class _State(msgspec.Struct):
    """``state.json``: records of ``segment`` before ``offset`` are acknowledged."""

    segment: int = 0
    offset: int = 0
    dropped_batches: int = 0
    dropped_samples: int = 0
    torn: int = 0


@dataclass
class _Segment:
    seq: int
    path: Path
    size: int = 0
    records: list[tuple[int, int, int]] = field(default_factory=list)  # (offset, end, samples)


def _crc(samples: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(samples.to_bytes(4, "little")))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Spool:
    """Thread-safe; every method does blocking file I/O (call it off the event loop)."""

    def __init__(self, root: Path, *, max_bytes: int, segment_bytes: int | None = None) -> None:
        if max_bytes < 1024:
            raise ValueError("the spool needs at least 1024 bytes")
        self.root = root
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(1024, max_bytes // 8)
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._active: BinaryIO | None = None  # the last segment, open for appends
        self._state_path = root / "state.json"
        root.mkdir(parents=True, exist_ok=True)
        self._state = read_json(self._state_path, _State(), type=_State)
        self._load()

    # ------------------------------------------------------------------ open

    def _load(self) -> None:
        found: list[tuple[int, Path]] = []
        for path in self.root.glob("seg-*.log"):
            digits = path.stem[4:]
            if digits.isdigit():
                found.append((int(digits), path))
        torn_before = self._state.torn
        for seq, path in sorted(found):
            if seq < self._state.segment:  # fully acknowledged; a crash kept it
                path.unlink(missing_ok=True)
                continue
            self._segments.append(self._scan(seq, path))
        if self._state.torn != torn_before:
            self._save()

    def _scan(self, seq: int, path: Path) -> _Segment:
        """Index a segment's records; cut off a damaged tail (and count it)."""
        seg = _Segment(seq, path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("spool segment %s cannot be read (%s); skipped", path, exc.strerror)
            return seg
        pos = 0
        skip_to = self._state.offset if seq == self._state.segment else 0
        while pos < len(data):
            end = self._valid_end(data, pos)
            if end is None:
                log.warning(
                    "spool segment %s: damaged record at byte %d (a write cut short); "
                    "the %d bytes from there are dropped",
                    path.name,
                    pos,
                    len(data) - pos,
                )
                self._state.torn += 1
                with contextlib.suppress(OSError), open(path, "r+b") as fh:
                    fh.truncate(pos)
                    os.fsync(fh.fileno())
                break
            if pos >= skip_to:
                samples = HEADER.unpack_from(data, pos)[3]
                seg.records.append((pos, end, samples))
            pos = end
        seg.size = pos
        return seg

    @staticmethod
    def _valid_end(data: bytes, pos: int) -> int | None:
        if pos + HEADER.size > len(data):
            return None
        magic, length, crc, samples = HEADER.unpack_from(data, pos)
        end: int = pos + HEADER.size + length
        if magic != MAGIC or length > MAX_RECORD or end > len(data):
            return None
        if _crc(samples, data[pos + HEADER.size : end]) != crc:
            return None
        return end

    # ------------------------------------------------------------------ write

    def append(self, payload: bytes, samples: int) -> None:
        """Write one batch and fsync it; drop the oldest segments first if it would not fit."""
        size = HEADER.size + len(payload)
        if len(payload) > MAX_RECORD:
            raise ValueError(f"a spooled batch is at most {MAX_RECORD} bytes")
        record = HEADER.pack(MAGIC, len(payload), _crc(samples, payload), samples) + payload
        with self._lock:
            self._make_room(size)
            if self._active is None or self._segments[-1].size >= self.segment_bytes:
                self._roll()
            seg = self._segments[-1]
            assert self._active is not None
            self._active.write(record)
            self._active.flush()
            os.fsync(self._active.fileno())
            seg.records.append((seg.size, seg.size + size, samples))
            seg.size += size

    def _roll(self) -> None:
        if self._active is not None:
            self._active.close()
        # Always past the cursor's segment: a reused number would take the cursor's offset
        # as the end of what was acknowledged in the new file.
        last = self._segments[-1].seq if self._segments else self._state.segment
        seq = max(last, self._state.segment) + 1
        path = self.root / f"seg-{seq:012d}.log"
        self._active = open(path, "ab")  # noqa: SIM115 - held open between appends
        _fsync_dir(self.root)
        self._segments.append(_Segment(seq, path))

    def _make_room(self, size: int) -> None:
        changed = False
        while self._segments and self._bytes() + size > self.max_bytes:
            if len(self._segments) == 1 and self._active is not None:
                self._active.close()  # the only segment is the one being written
                self._active = None
            seg = self._segments.pop(0)
            if seg.records:
                self._state.dropped_batches += len(seg.records)
                self._state.dropped_samples += sum(r[2] for r in seg.records)
                log.warning(
                    "spool full (%d bytes): dropped the oldest %d batches (%d samples)",
                    self.max_bytes,
                    len(seg.records),
                    sum(r[2] for r in seg.records),
                )
            seg.path.unlink(missing_ok=True)
            changed = True
        if changed:
            self._advance_cursor()
            self._save()

    # ------------------------------------------------------------------ read

    def peek(self, limit: int = 1) -> list[Record]:
        """The oldest ``limit`` batches not yet acknowledged, in order."""
        out: list[Record] = []
        with self._lock:
            for seg in self._segments:
                if len(out) >= limit:
                    break
                wanted = seg.records[: limit - len(out)]
                if not wanted:
                    continue
                with open(seg.path, "rb") as fh:
                    for offset, end, samples in wanted:
                        fh.seek(offset + HEADER.size)
                        payload = fh.read(end - offset - HEADER.size)
                        out.append(Record(seg.seq, offset, end, samples, payload))
        return out

    def ack(self, record: Record) -> None:
        """The server has taken ``record`` and everything before it: forget them."""
        with self._lock:
            while self._segments:
                seg = self._segments[0]
                if seg.seq < record.segment:
                    self._drop_acknowledged(seg)
                    continue
                if seg.seq == record.segment:
                    seg.records = [r for r in seg.records if r[0] >= record.end]
                    if not seg.records and len(self._segments) > 1:
                        self._drop_acknowledged(seg)
                break
            self._advance_cursor(record)
            self._save()

    def _drop_acknowledged(self, seg: _Segment) -> None:
        self._segments.remove(seg)
        seg.path.unlink(missing_ok=True)

    def _advance_cursor(self, acked: Record | None = None) -> None:
        """The cursor: the first unacknowledged record (or the end of what was acked)."""
        for seg in self._segments:
            if seg.records:
                self._state.segment, self._state.offset = seg.seq, seg.records[0][0]
                return
        if acked is not None:
            self._state.segment, self._state.offset = acked.segment, acked.end
        elif self._segments:
            last = self._segments[-1]
            self._state.segment, self._state.offset = last.seq, last.size

    def _save(self) -> None:
        write_json_atomic(self._state_path, self._state)

    def _bytes(self) -> int:
        return sum(s.size for s in self._segments)

    # ------------------------------------------------------------------ misc

    def stats(self) -> SpoolStats:
        with self._lock:
            records = [r for s in self._segments for r in s.records]
            return SpoolStats(
                batches=len(records),
                samples=sum(r[2] for r in records),
                bytes=self._bytes(),
                dropped_batches=self._state.dropped_batches,
                dropped_samples=self._state.dropped_samples,
                torn=self._state.torn,
            )

    def close(self) -> None:
        with self._lock:
            if self._active is not None:
                self._active.close()
                self._active = None
