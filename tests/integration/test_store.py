"""The SQLite store against a real database file."""

import sqlite3

import pytest

from sentra.events import Sample
from sentra.store.base import QueryError, UnknownSeries
from sentra.store.sqlite import SqliteStore, Tier

T0 = 1_699_999_980.0  # a whole minute


def _store(tmp_path, **kw):
    return SqliteStore(tmp_path / "db" / "s.db", tiers=[Tier(60, 10), Tier(3600, 100)], **kw)


def _fill(store, seconds, *, name="cpu", labels=None, start=T0, value=lambda i: i % 10):
    batch = [
        Sample(name, labels or {"cpu": "total"}, start + i, float(value(i))) for i in range(seconds)
    ]
    for i in range(0, len(batch), 500):
        store.append(batch[i : i + 500])


def test_raw_points_come_back_exactly(tmp_path):
    store = _store(tmp_path)
    _fill(store, 100)
    res = store.history("cpu", {}, T0, T0 + 99, now=T0 + 100)
    (series,) = res.series
    assert res.tier == "raw"
    assert series.ts == [T0 + i for i in range(100)]
    assert series.avg == [float(i % 10) for i in range(100)]


def test_sealed_and_unsealed_samples_are_both_visible_once(tmp_path):
    store = _store(tmp_path)
    _fill(store, 50)
    assert store.seal() == 50
    _fill(store, 50, start=T0 + 50)
    res = store.history("cpu", {}, T0, T0 + 100, now=T0 + 100)
    assert len(res.series[0].ts) == 100
    assert store.stats().chunks == 1
    assert store.stats().head_rows == 50


def test_long_ranges_use_a_rollup_tier_and_honour_the_limit(tmp_path):
    store = _store(tmp_path)
    _fill(store, 7200, value=lambda i: i % 60)
    store.seal()
    res = store.history("cpu", {}, T0, T0 + 7200, limit=50, now=T0 + 7200)
    (series,) = res.series
    assert res.tier == "60s"
    assert 0 < len(series.ts) <= 50
    assert min(series.min) == 0 and max(series.max) == 59
    # every sample is counted exactly once across the buckets
    assert pytest.approx(sum(series.avg) / len(series.avg), rel=0.02) == 29.5


def test_limit_is_never_exceeded_for_raw_data(tmp_path):
    store = _store(tmp_path)
    _fill(store, 1000)
    for limit in (1, 2, 7, 999):
        res = store.history("cpu", {}, T0, T0 + 999, limit=limit, now=T0 + 1000)
        assert 1 <= len(res.series[0].ts) <= limit


def test_label_filter_selects_series(tmp_path):
    store = _store(tmp_path)
    _fill(store, 10, labels={"cpu": "0"})
    _fill(store, 10, labels={"cpu": "1"}, value=lambda i: 100)
    res = store.history("cpu", {"cpu": "1"}, T0, T0 + 10, now=T0 + 10)
    assert [s.labels for s in res.series] == [{"cpu": "1"}]
    assert set(res.series[0].avg) == {100.0}
    assert len(store.history("cpu", {}, T0, T0 + 10, now=T0 + 10).series) == 2


def test_bad_queries_are_errors_not_crashes(tmp_path):
    store = _store(tmp_path)
    _fill(store, 10)
    with pytest.raises(UnknownSeries):
        store.history("nope", {}, T0, T0 + 1, now=T0)
    with pytest.raises(QueryError, match="must not be after"):
        store.history("cpu", {}, T0 + 5, T0, now=T0)
    with pytest.raises(QueryError):
        store.history("cpu", {}, T0, T0 + 5, granularity=-1, now=T0)


def test_late_samples_merge_into_rollups(tmp_path):
    store = _store(tmp_path)
    _fill(store, 120)
    store.seal()
    store.append([Sample("cpu", {"cpu": "total"}, T0 + 30.5, 1000.0)])  # late
    store.seal()
    res = store.history("cpu", {}, T0, T0 + 119, granularity=60, now=T0 + 120)
    assert res.series[0].max[0] == 1000.0
    rows = (
        sqlite3.connect(store.path)
        .execute("SELECT count FROM rollups WHERE tier = 1 ORDER BY ts")
        .fetchall()
    )
    assert [r[0] for r in rows] == [61, 60]


def test_reopening_recovers_unsealed_samples(tmp_path):
    store = _store(tmp_path)
    _fill(store, 30)
    store.close()  # no seal: the head table is the write-ahead record
    again = _store(tmp_path)
    assert len(again.history("cpu", {}, T0, T0 + 30, now=T0 + 30).series[0].ts) == 30


def test_retention_drops_old_chunks_and_rollups(tmp_path):
    store = SqliteStore(tmp_path / "r.db", retention_days=1, tiers=[Tier(60, 2)])
    _fill(store, 100)
    store.seal()
    assert store.apply_retention(T0 + 1.5 * 86400) == 1  # the raw chunk
    assert store.stats().chunks == 0
    assert store.stats().rollup_rows > 0
    store.apply_retention(T0 + 3 * 86400)
    assert store.stats().rollup_rows == 0


def test_delete_history_all_and_before(tmp_path):
    store = _store(tmp_path)
    _fill(store, 100)
    store.seal()
    _fill(store, 100, start=T0 + 1000)
    store.delete_history(before=T0 + 1000)
    res = store.history("cpu", {}, T0, T0 + 2000, now=T0 + 2000)
    assert min(res.series[0].ts) >= T0 + 1000
    store.delete_history()
    assert store.series() == []
    assert store.stats().raw_samples == 0


def test_series_search_matches_names_and_labels(tmp_path):
    store = _store(tmp_path)
    _fill(store, 1, name="system.cpu.utilization", labels={"cpu": "0"})
    _fill(store, 1, name="system.memory.usage", labels={"state": "used"})
    assert [s.name for s in store.series("memory")] == ["system.memory.usage"]
    assert [s.name for s in store.series("cpu=0")] == ["system.cpu.utilization"]
    assert len(store.series()) == 2
