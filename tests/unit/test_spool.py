"""The agent's disk spool: order, acknowledgement, the bound, and damaged files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentra.agent.spool import HEADER
from sentra.agent.spool import Spool as _Spool

_open: list[_Spool] = []


def Spool(root: Path, **kwargs: int) -> _Spool:
    """A spool closed at the end of the test (every test reopens its spool at least once)."""
    spool = _Spool(root, **kwargs)
    _open.append(spool)
    return spool


@pytest.fixture(autouse=True)
def _close_spools():  # type: ignore[no-untyped-def]
    yield
    while _open:
        _open.pop().close()


def _fill(spool: _Spool, n: int, size: int = 100, start: int = 0) -> list[bytes]:
    out = []
    for i in range(start, start + n):
        payload = f"batch-{i:05d}-".encode().ljust(size, b"x")
        spool.append(payload, samples=i + 1)
        out.append(payload)
    return out


def _drain(spool: _Spool) -> list[bytes]:
    got = []
    while records := spool.peek(3):
        got.extend(r.payload for r in records)
        spool.ack(records[-1])
    return got


def _segments(root: Path) -> list[Path]:
    return sorted(root.glob("seg-*.log"))


def test_batches_come_back_in_order_and_survive_a_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=350)
    sent = _fill(spool, 10)
    assert len(_segments(tmp_path)) > 1  # the test spans several segment files
    first = spool.peek(4)
    assert [r.payload for r in first] == sent[:4]
    assert [r.samples for r in first] == [1, 2, 3, 4]
    spool.ack(first[-1])
    spool.close()

    again = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=350)
    stats = again.stats()
    assert (stats.batches, stats.samples) == (6, sum(range(5, 11)))
    assert _drain(again) == sent[4:]  # nothing acknowledged comes back, nothing is missing
    assert again.stats().batches == 0
    assert len(_segments(tmp_path)) <= 1  # acknowledged segments are deleted
    sent2 = _fill(again, 2, start=10)
    again.close()
    assert _drain(Spool(tmp_path, max_bytes=1 << 20, segment_bytes=350)) == sent2


def test_ack_of_an_empty_spool_then_restart_does_not_resend(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    _fill(spool, 3)
    _drain(spool)
    spool.close()
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.peek(10) == []
    new = _fill(reopened, 1, start=7)
    assert [r.payload for r in reopened.peek(10)] == new


def test_past_the_bound_the_oldest_are_dropped_and_counted(tmp_path: Path) -> None:
    record = HEADER.size + 100
    spool = Spool(tmp_path, max_bytes=20 * record, segment_bytes=4 * record)
    sent = _fill(spool, 50)
    stats = spool.stats()
    assert stats.bytes <= 20 * record
    assert stats.dropped_batches > 0
    assert stats.batches + stats.dropped_batches == 50
    kept = [r.payload for r in spool.peek(100)]
    assert kept == sent[-len(kept) :]  # the newest are kept, in order
    dropped_samples = sum(range(1, stats.dropped_batches + 1))  # batch i holds i + 1 samples
    assert stats.dropped_samples == dropped_samples
    spool.close()
    reopened = Spool(tmp_path, max_bytes=20 * record, segment_bytes=4 * record)
    assert reopened.stats().dropped_batches == stats.dropped_batches  # the counter persists
    assert reopened.stats().dropped_samples == dropped_samples


def test_nothing_is_dropped_below_the_bound(tmp_path: Path) -> None:
    record = HEADER.size + 100
    spool = Spool(tmp_path, max_bytes=40 * record, segment_bytes=4 * record)
    _fill(spool, 40)
    assert spool.stats().dropped_batches == 0
    assert spool.stats().batches == 40


def test_acknowledged_batches_are_not_counted_as_dropped(tmp_path: Path) -> None:
    record = HEADER.size + 100
    spool = Spool(tmp_path, max_bytes=10 * record, segment_bytes=2 * record)
    for i in range(30):  # the server keeps up: every batch is taken at once
        _fill(spool, 1, start=i)
        spool.ack(spool.peek(1)[0])
    assert spool.stats().dropped_batches == 0


def test_a_torn_last_record_is_cut_off_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    sent = _fill(spool, 3)
    spool.close()
    last = _segments(tmp_path)[-1]
    with open(last, "r+b") as fh:  # kill -9 in the middle of the third write
        fh.truncate(last.stat().st_size - 40)
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.stats().torn == 1
    assert [r.payload for r in reopened.peek(10)] == sent[:2]
    more = _fill(reopened, 1, start=3)
    reopened.close()
    third = Spool(tmp_path, max_bytes=1 << 20)
    assert [r.payload for r in third.peek(10)] == [*sent[:2], *more]
    assert third.stats().torn == 1  # counted once, persisted


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size + 3])
def test_a_record_cut_anywhere_never_crashes_open(tmp_path: Path, cut: int) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    sent = _fill(spool, 2)
    spool.close()
    seg = _segments(tmp_path)[-1]
    size = seg.stat().st_size
    with open(seg, "r+b") as fh:
        fh.truncate(size - (HEADER.size + 100) + cut)  # the second record keeps `cut` bytes
    assert [r.payload for r in Spool(tmp_path, max_bytes=1 << 20).peek(10)] == sent[:1]


def test_a_flipped_byte_fails_the_crc(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    sent = _fill(spool, 3)
    spool.close()
    seg = _segments(tmp_path)[-1]
    data = bytearray(seg.read_bytes())
    data[HEADER.size + 100 + HEADER.size + 10] ^= 0xFF  # inside the second payload
    seg.write_bytes(bytes(data))
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert [r.payload for r in reopened.peek(10)] == sent[:1]
    assert reopened.stats().torn == 1


def test_garbage_files_do_not_stop_the_spool(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_bytes(b"{not json")
    (tmp_path / "seg-000000000001.log").write_bytes(os.urandom(300))
    (tmp_path / "seg-notanumber.log").write_bytes(b"ignored")
    spool = Spool(tmp_path, max_bytes=1 << 20)
    assert spool.peek(10) == []
    sent = _fill(spool, 2)
    assert [r.payload for r in spool.peek(10)] == sent


def test_a_crash_between_ack_and_delete_does_not_resend(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=250)
    sent = _fill(spool, 4)
    kept = {p.name: p.read_bytes() for p in _segments(tmp_path)}
    first_two = spool.peek(2)
    spool.ack(first_two[-1])
    spool.close()
    for name, data in kept.items():  # the deleted segment files are back
        (tmp_path / name).write_bytes(data)
    assert [r.payload for r in Spool(tmp_path, max_bytes=1 << 20).peek(10)] == sent[2:]
