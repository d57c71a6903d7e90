import msgspec
import pytest

from sentra.ingest.dedupe import Deduper, id_hash
from sentra.ingest.model import BatchError, parse_batch

NOW = 1_800_000_000.0


def _parse(obj, ctype="application/json"):
    body = msgspec.msgpack.encode(obj) if "msgpack" in ctype else msgspec.json.encode(obj)
    return parse_batch(body, ctype, now=NOW, oldest=NOW - 86400)


def test_missing_ts_means_now_and_ids_are_hashed():
    b = _parse({"metrics": [{"name": "a", "value": 1, "id": "x"}, {"name": "a", "value": 2}]})
    assert [s.ts for s in b.samples] == [NOW, NOW]
    assert b.sample_ids == [id_hash("x"), None]


@pytest.mark.parametrize("ctype", ["application/json", "application/msgpack"])
def test_each_item_is_judged_alone(ctype):
    b = _parse(
        {
            "metrics": [
                {"name": "ok", "value": 1},
                {"name": "ok", "value": 1, "labels": {"1x": "v"}},
                {"name": "ok", "value": 1, "ts": NOW - 2 * 86400},
                {"name": "ok"},
            ],
            "logs": [{"body": "b", "severity": "warning"}, {"body": 5}],
        },
        ctype,
    )
    assert len(b.samples) == 1 and len(b.logs) == 1
    assert b.logs[0].severity == "WARNING" and b.logs[0].severity_number == 13
    reasons = {(r.kind, r.index): r.reason for r in b.rejected}
    assert set(reasons) == {("metrics", 1), ("metrics", 2), ("metrics", 3), ("logs", 1)}
    assert "label name" in reasons[("metrics", 1)]
    assert "older than the history retention" in reasons[("metrics", 2)]
    assert "value" in reasons[("metrics", 3)]


def test_a_body_that_is_not_a_batch_is_an_error_of_the_whole():
    with pytest.raises(BatchError, match="not valid JSON"):
        parse_batch(b"{", "application/json", now=NOW, oldest=0)
    with pytest.raises(BatchError, match="metrics"):
        parse_batch(b'{"samples": []}', "application/json", now=NOW, oldest=0)


def test_deduper_remembers_within_the_window_and_forgets_after():
    d = Deduper(window_s=120)
    dup, packed = d.filter([1, 2, 1, None], now=1000.0)
    assert dup == [False, False, True, False]
    assert len(packed) == 16
    assert d.filter([2, 3], now=1100.0)[0] == [True, False]
    assert d.filter([1], now=1000.0 + 300)[0] == [False]  # bucket of t=1000 expired


def test_deduper_rebuilds_from_its_record_and_can_forget_a_failed_batch():
    d = Deduper()
    _, packed = d.filter([10, 11], now=500.0)
    fresh = Deduper()
    assert fresh.load([(500.0, packed)]) == 2
    assert fresh.filter([10, 12], now=501.0)[0] == [True, False]
    d.forget(packed)
    assert d.filter([10], now=502.0)[0] == [False]


def test_deduper_memory_is_bounded():
    d = Deduper(window_s=3600, max_ids=1000)
    for minute in range(5):
        d.filter(list(range(minute * 600, minute * 600 + 600)), now=minute * 60.0)
    assert d.size <= 1000 and d.evicted >= 2000
