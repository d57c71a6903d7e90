"""The telemetry store against a real database: a SQLite file and a PostgreSQL database
(``db_target``), the same tests on both so the engines never drift."""

import pytest

from sentra.events import Sample
from sentra.store.base import QueryError, UnknownSeries
from sentra.store.sqlite import SqliteStore
from sentra.store.timeseries import TelemetryStore, Tier

T0 = 1_699_999_980.0  # a whole minute


@pytest.fixture
def stores(db_target):
    """Opens stores on the test's database (two tiers unless told); closes them after."""
    opened = []

    def make(**kw):
        kw.setdefault("tiers", [Tier(60, 10), Tier(3600, 100)])
        opened.append(TelemetryStore(db_target, **kw))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def _fill(store, seconds, *, name="cpu", labels=None, start=T0, value=lambda i: i % 10):
    batch = [
        Sample(name, labels or {"cpu": "total"}, start + i, float(value(i))) for i in range(seconds)
    ]
    for i in range(0, len(batch), 500):
        store.append(batch[i : i + 500])


def test_raw_points_come_back_exactly(stores):
    store = stores()
    _fill(store, 100)
    res = store.history("cpu", {}, T0, T0 + 99, now=T0 + 100)
    (series,) = res.series
    assert res.tier == "raw"
    assert series.ts == [T0 + i for i in range(100)]
    assert series.avg == [float(i % 10) for i in range(100)]


def test_sealed_and_unsealed_samples_are_both_visible_once(stores):
    store = stores()
    _fill(store, 50)
    assert store.seal() == 50
    _fill(store, 50, start=T0 + 50)
    res = store.history("cpu", {}, T0, T0 + 100, now=T0 + 100)
    assert len(res.series[0].ts) == 100
    assert store.stats().chunks == 1
    assert store.stats().head_rows == 50


def test_long_ranges_use_a_rollup_tier_and_honour_the_limit(stores):
    store = stores()
    _fill(store, 7200, value=lambda i: i % 60)
    store.seal()
    res = store.history("cpu", {}, T0, T0 + 7200, limit=50, now=T0 + 7200)
    (series,) = res.series
    assert res.tier == "60s"
    assert 0 < len(series.ts) <= 50
    assert min(series.min) == 0 and max(series.max) == 59
    # every sample is counted exactly once across the buckets
    assert pytest.approx(sum(series.avg) / len(series.avg), rel=0.02) == 29.5


def test_limit_is_never_exceeded_for_raw_data(stores):
    store = stores()
    _fill(store, 1000)
    for limit in (1, 2, 7, 999):
        res = store.history("cpu", {}, T0, T0 + 999, limit=limit, now=T0 + 1000)
        assert 1 <= len(res.series[0].ts) <= limit


def test_label_filter_selects_series(stores):
    store = stores()
    _fill(store, 10, labels={"cpu": "0"})
    _fill(store, 10, labels={"cpu": "1"}, value=lambda i: 100)
    res = store.history("cpu", {"cpu": "1"}, T0, T0 + 10, now=T0 + 10)
    assert [s.labels for s in res.series] == [{"cpu": "1"}]
    assert set(res.series[0].avg) == {100.0}
    assert len(store.history("cpu", {}, T0, T0 + 10, now=T0 + 10).series) == 2


def test_bad_queries_are_errors_not_crashes(stores):
    store = stores()
    _fill(store, 10)
    with pytest.raises(UnknownSeries):
        store.history("nope", {}, T0, T0 + 1, now=T0)
    with pytest.raises(QueryError, match="must not be after"):
        store.history("cpu", {}, T0 + 5, T0, now=T0)
    with pytest.raises(QueryError):
        store.history("cpu", {}, T0, T0 + 5, granularity=-1, now=T0)


def test_late_samples_merge_into_rollups(stores):
    store = stores()
    _fill(store, 120)
    store.seal()
    store.append([Sample("cpu", {"cpu": "total"}, T0 + 30.5, 1000.0)])  # late
    store.seal()
    res = store.history("cpu", {}, T0, T0 + 119, granularity=60, now=T0 + 120)
    assert res.series[0].max[0] == 1000.0
    rows = store.read(
        lambda db: db.execute("SELECT count FROM rollups WHERE tier = 1 ORDER BY ts").fetchall()
    )
    assert [r[0] for r in rows] == [61, 60]


def test_reopening_recovers_unsealed_samples(stores):
    store = stores()
    _fill(store, 30)
    store.close()  # no seal: the head table is the write-ahead record
    again = stores()
    assert len(again.history("cpu", {}, T0, T0 + 30, now=T0 + 30).series[0].ts) == 30


def test_retention_drops_old_chunks_and_rollups(stores):
    store = stores(retention_days=1, tiers=[Tier(60, 2)])
    _fill(store, 100)
    store.seal()
    assert store.apply_retention(T0 + 1.5 * 86400) == 1  # the raw chunk
    assert store.stats().chunks == 0
    assert store.stats().rollup_rows > 0
    store.apply_retention(T0 + 3 * 86400)
    assert store.stats().rollup_rows == 0


def test_delete_history_all_and_before(stores):
    store = stores()
    _fill(store, 100)
    store.seal()
    _fill(store, 100, start=T0 + 1000)
    store.delete_history(before=T0 + 1000)
    res = store.history("cpu", {}, T0, T0 + 2000, now=T0 + 2000)
    assert min(res.series[0].ts) >= T0 + 1000
    store.delete_history()
    assert store.series() == []
    assert store.stats().raw_samples == 0


def test_series_search_matches_names_and_labels(stores):
    store = stores()
    _fill(store, 1, name="system.cpu.utilization", labels={"cpu": "0"})
    _fill(store, 1, name="system.memory.usage", labels={"state": "used"})
    assert [s.name for s in store.series("memory")] == ["system.memory.usage"]
    assert [s.name for s in store.series("cpu=0")] == ["system.cpu.utilization"]
    assert len(store.series()) == 2


def test_logs_spans_deadletters_and_dedupe_record_round_trip(stores):
    from sentra.events import LogRecord, Span
    from sentra.store.records import DeadLetter

    store = stores()
    logs = [
        LogRecord(ts=T0 + i, body=f"req {i} 100% done?", severity="ERROR" if i % 2 else "INFO",
                  severity_number=17 if i % 2 else 9, service="api", version="v1",
                  attributes={"i": i}, trace_id="t1", span_id="")
        for i in range(4)
    ]  # fmt: skip
    spans = [
        Span(trace_id="t1", span_id=f"s{i}", parent_id="" if i == 0 else "s0", service="api",
             version="v1", name="GET /", kind="server", start=T0 + i, end=T0 + i + 0.25,
             status="error" if i == 2 else "ok", status_message="", attributes={})
        for i in range(3)
    ]  # fmt: skip
    store.write(
        logs=logs,
        spans=spans,
        dedupe_record=b"\x00\x01hash",
        deadletters=[DeadLetter(source="otlp", reason="bad", payload="{}")],
    )
    got = store.logs(service="api", version="", min_severity=17, contains="100% done?",
                     trace_id="", start=T0, end=T0 + 10, limit=10)  # fmt: skip
    assert [r.body for r in got] == ["req 3 100% done?", "req 1 100% done?"]
    assert got[0].attributes == {"i": 3}
    assert store.logs(service="", version="", min_severity=0, contains="REQ", trace_id="",
                      start=T0, end=T0 + 10, limit=10) == []  # fmt: skip
    assert [s.span_id for s in store.trace("t1")] == ["s0", "s1", "s2"]
    slow = store.spans(service="api", version="v1", status="error", start=T0, end=T0 + 10,
                       min_duration_ms=100, limit=10)  # fmt: skip
    assert [s.span_id for s in slow] == ["s2"] and slow[0].end - slow[0].start == 0.25
    (dl,) = store.deadletters(source="otlp")
    assert (dl.reason, dl.payload) == ("bad", "{}") and store.deadletters(source="x") == []
    assert [h for _, h in store.dedupe_since(0)] == [b"\x00\x01hash"]


def test_per_version_summaries_count_errors_on_both_engines(stores):
    from sentra.events import LogRecord, Span
    from sentra.store import telemetry as sql

    store = stores()
    store.write(
        spans=[
            Span(trace_id=f"t{i}", span_id="s", parent_id="", service="api", version="v2",
                 name="GET /", kind="server", start=T0 + i, end=T0 + i + 0.01 * (i + 1),
                 status="error" if i < 2 else "ok", status_message="", attributes={})
            for i in range(5)
        ],
        logs=[
            LogRecord(ts=T0 + i, body="x", severity="ERROR", severity_number=17 + i % 2 * -8,
                      service="api", version="v2", attributes={}, trace_id="", span_id="")
            for i in range(4)
        ],
    )  # fmt: skip
    lo, hi = T0 * 1000, (T0 + 60) * 1000
    s = store.read(sql.span_summary, "api", "v2", lo, hi)
    assert (s.count, s.errors, s.roots) == (5, 2, False)
    assert s.total_ms == pytest.approx(150.0)
    assert sorted(store.read(sql.span_durations, "api", "v2", lo, hi)) == pytest.approx(
        [10, 20, 30, 40, 50]
    )
    assert [r.trace_id for r in store.read(sql.example_spans, "api", "v2", lo, hi, 3)] == [
        "t1", "t0", "t4",
    ]  # fmt: skip
    assert store.read(sql.log_summary, "api", "v2", int(lo), int(hi)) == (4, 2)


def test_sqlite_store_name_still_opens_a_file(tmp_path):
    store = SqliteStore(tmp_path / "db" / "s.db")
    _fill(store, 10)
    assert store.path == tmp_path / "db" / "s.db" and store.stats().raw_samples == 10
    store.close()
