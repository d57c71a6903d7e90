import msgspec
import numpy as np
import pytest

from sentra.ingest import model
from sentra.ingest.dedupe import Deduper, id_hash, pack_ids
from sentra.ingest.model import BatchError, parse_batch

NOW = 1_800_000_000.0


def _parse(obj, ctype="application/json"):
    body = msgspec.msgpack.encode(obj) if "msgpack" in ctype else msgspec.json.encode(obj)
    return parse_batch(body, ctype, now=NOW, oldest=NOW - 86400)


def test_missing_ts_means_now_and_ids_are_kept():
    b = _parse({"metrics": [{"name": "a", "value": 1, "id": "x"}, {"name": "a", "value": 2}]})
    assert b.samples.ts == [NOW, NOW]
    assert b.sample_ids == ["x", None]


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
    assert b.samples.refs[0].key == "ok"
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
    dup, _, record = d.filter([1, 2, 1, None], now=1000.0)
    assert dup == [False, False, True, False]
    assert record == [1, 2]
    assert d.filter([2, 3], now=1100.0)[0] == [True, False]
    assert d.filter([1], now=1000.0 + 300)[0] is None  # bucket of t=1000 expired: no dups


def test_deduper_rebuilds_from_its_record_and_can_forget_a_failed_batch():
    d = Deduper()
    _, keys, record = d.filter([10, "evt-11"], now=500.0)
    fresh = Deduper()
    assert fresh.load([(500.0, pack_ids(record))]) == 2
    assert fresh.filter([10, "evt-11", "evt-12"], now=501.0)[0] == [True, True, False]
    d.forget(keys)
    assert d.filter([10], now=502.0)[0] is None


def test_deduper_memory_is_bounded():
    d = Deduper(window_s=3600, max_ids=1000)
    for minute in range(5):
        d.filter(list(range(minute * 600, minute * 600 + 600)), now=minute * 60.0)
    assert d.size <= 1000 and d.evicted >= 2000


def _good_batch():
    return {
        "metrics": [
            {"name": "app.req", "value": i, "ts": NOW - i, "labels": {"r": "/a"}, "id": f"m{i}"}
            for i in range(5)
        ]
        + [{"name": "app.req", "value": 9.5}],
        "logs": [
            {"body": "hello", "severity": "warning", "service": "api", "id": "l1"},
            {"body": "bye", "ts": NOW - 5, "attributes": {"k": 1}},
        ],
    }


@pytest.mark.parametrize("ctype", ["application/json", "application/msgpack"])
def test_the_fast_path_and_the_per_item_path_give_the_same_answer(ctype):
    good = _good_batch()
    fast = _parse(good, ctype)
    # One bad item sends the whole batch down the per-item path.
    mixed = {"metrics": [*good["metrics"], {"name": "bad name"}], "logs": good["logs"]}
    slow = _parse(mixed, ctype)
    assert [(r.kind, r.index) for r in slow.rejected] == [("metrics", 6)]
    assert fast.rejected == []
    assert [r.key for r in fast.samples.refs] == [r.key for r in slow.samples.refs]
    assert fast.samples.ts == slow.samples.ts and fast.samples.values == slow.samples.values
    assert fast.sample_ids == slow.sample_ids == ["m0", "m1", "m2", "m3", "m4", None]
    assert fast.logs == slow.logs and fast.log_ids == slow.log_ids == ["l1", None]
    assert fast.logs[0].severity == "WARNING" and fast.logs[1].ts == NOW - 5


def test_samples_of_one_series_share_one_reference_whatever_the_label_order():
    b = _parse(
        {
            "metrics": [
                {"name": "x", "value": 1, "labels": {"a": "1", "b": "2"}},
                {"name": "x", "value": 2, "labels": {"b": "2", "a": "1"}},
                {"name": "x", "value": 3, "labels": {"a": "1", "b": "3"}},
            ]
        }
    )
    refs = b.samples.refs
    assert refs[0] is refs[1] and refs[0] is not refs[2]
    assert refs[0].key == 'x{a="1",b="2"}' and refs[0].labels == {"a": "1", "b": "2"}
    assert [s.value for s in b.samples.samples()] == [1.0, 2.0, 3.0]


def test_values_whose_sum_overflows_are_still_accepted_one_by_one():
    b = _parse({"metrics": [{"name": "big", "value": 1e308}, {"name": "big", "value": 1e308}]})
    assert b.samples.values == [1e308, 1e308] and b.rejected == []


def test_a_nan_in_msgpack_is_rejected_alone():
    b = _parse(
        {"metrics": [{"name": "v", "value": float("nan")}, {"name": "v", "value": 1}]},
        "application/msgpack",
    )
    assert b.samples.values == [1.0]
    assert [(r.index, r.reason) for r in b.rejected] == [(0, "value must be a finite number")]


@pytest.mark.parametrize(
    "log, reason",
    [
        ({"body": "x" * 70_000}, "body is longer"),
        ({"body": "x", "severity": "LOUD"}, "LOUD"),
        ({"body": "x", "id": ""}, "id must be"),
        ({"body": "x", "ts": NOW + 2 * 86400}, "future"),
    ],
)
def test_a_bad_log_is_rejected_alone_with_its_reason(log, reason):
    b = _parse({"logs": [{"body": "fine"}, log]})
    assert [x.body for x in b.logs] == ["fine"]
    assert len(b.rejected) == 1 and reason in b.rejected[0].reason


def test_long_log_fields_are_cut_as_before():
    b = _parse({"logs": [{"body": "x", "service": "s" * 300, "trace_id": "t" * 100}]})
    assert len(b.logs[0].service) == 256 and len(b.logs[0].trace_id) == 64


def test_deduper_reads_the_first_record_format_of_packed_blake2b_hashes():
    otlp_id = id_hash("trace" + "span")
    legacy = np.array([otlp_id], dtype="<u8").tobytes()
    d = Deduper()
    assert d.load([(500.0, legacy)]) == 1
    assert d.filter([otlp_id, "new"], now=501.0)[0] == [True, False]


def test_deduper_forgets_a_failed_batch_so_its_retry_is_stored():
    d = Deduper()
    dup, keys, record = d.filter(["a", "b", "a"], now=10.0)
    assert dup == [False, False, True] and record == ["a", "b"]
    d.forget(keys)
    assert d.size == 0
    assert d.filter(["a", "b"], now=11.0)[0] is None


@pytest.mark.parametrize("ctype", ["application/json", "application/msgpack"])
def test_a_well_formed_batch_never_takes_the_per_item_path(ctype, monkeypatch):
    def per_item(*args):
        raise AssertionError("the per-item path was taken")

    monkeypatch.setattr(model, "_judge", per_item)
    b = _parse(_good_batch(), ctype)
    assert len(b.samples) == 6 and len(b.logs) == 2


def test_deduper_memory_is_bounded_even_within_one_minute():
    d = Deduper(window_s=600, max_ids=1000)
    for i in range(10):
        d.filter([f"id-{i}-{j}" for j in range(500)], now=30.0)
    assert 900 <= d.size <= 1000 and d.evicted >= 4000
    assert d.filter(["id-9-499"], now=31.0)[0] == [True]  # the newest are kept
    assert d.filter(["id-0-0"], now=31.0)[0] is None  # the oldest were forgotten
