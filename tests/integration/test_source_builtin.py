"""The builtin telemetry source against a real SQLite store filled through its own API."""

import asyncio
import threading

import numpy as np
import pytest

from sentra.events import LogRecord, Sample, Span
from sentra.rollout.sources import Arm, SourceError, Target, Window, build_source
from sentra.rollout.sources.builtin import BuiltinSource, parse_metric_query
from sentra.rollout.sources.config import BuiltinSourceConfig
from sentra.store import telemetry as sql
from sentra.store.sqlite import SqliteStore, Tier

T0 = 1_700_000_040.0  # a whole minute
WINDOW = Window(T0, T0 + 60)
TARGET = Target(
    service="checkout",
    versions={Arm.STABLE: "v1", Arm.CANARY: "v2", Arm.BASELINE: "v1-base"},
    labels={"region": "eu"},
)


def _span(i, *, version, start, ms, kind="server", status="unset", parent="", service="checkout"):
    return Span(
        trace_id=f"{version}-{i:030d}"[-32:].replace("v", "a").replace(".", "b"),
        span_id=f"{i:016x}",
        name=f"GET /item/{i}",
        start=start,
        end=start + ms / 1000.0,
        parent_id=parent,
        service=service,
        version=version,
        kind=kind,
        status=status,
    )


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "db" / "sentra.db", tiers=[Tier(60, 10)])
    spans = []
    # stable: 100 requests of 1..100 ms, 2 errors; plus client calls and another service
    for i in range(100):
        status = "error" if i in (10, 20) else "ok"
        spans.append(_span(i, version="v1", start=T0 + i * 0.5, ms=i + 1, status=status))
        spans.append(_span(1000 + i, version="v1", start=T0 + i * 0.5, ms=5000, kind="client"))
    spans += [_span(2000 + i, version="v1", start=T0 + i, ms=1, service="other") for i in range(30)]
    # outside the window (before, and exactly at its end: the end is excluded)
    spans.append(_span(3000, version="v1", start=T0 - 1, ms=9000, status="error"))
    spans.append(_span(3001, version="v1", start=T0 + 60, ms=9000, status="error"))
    # canary: 20 requests of 10..200 ms, 5 errors (the last five)
    for i in range(20):
        status = "error" if i >= 15 else "ok"
        spans.append(
            _span(4000 + i, version="v2", start=T0 + 2 * i, ms=10 * (i + 1), status=status)
        )
    # baseline: no server spans, only root spans (internal) with children
    for i in range(10):
        spans.append(_span(5000 + i, version="v1-base", start=T0 + i, ms=100 + i, kind="internal"))
        spans.append(
            _span(6000 + i, version="v1-base", start=T0 + i, ms=1, kind="internal", parent="ab")
        )
    logs = []
    for i in range(40):  # canary: 10 ERROR + 2 FATAL of 40; WARN does not count
        sev, num = ("ERROR", 17) if i < 10 else ("FATAL", 21) if i < 12 else ("WARN", 13)
        if i >= 20:
            sev, num = "INFO", 9
        logs.append(LogRecord(ts=T0 + i, body="x", severity=sev, severity_number=num,
                              service="checkout", version="v2"))  # fmt: skip
    logs += [
        LogRecord(ts=T0 + i, body="ok", service="checkout", version="v1", severity_number=9)
        for i in range(50)
    ]
    logs.append(LogRecord(ts=T0 + 61, body="late", service="checkout", version="v2",
                          severity="ERROR", severity_number=17))  # fmt: skip
    store.write(spans=spans, logs=logs)
    # metrics: consumer lag per partition (canary and stable), staleness without version
    samples = []
    for s in range(60):
        for part, base in (("0", 100.0), ("1", 200.0)):
            labels = {"service": "checkout", "version": "v2", "partition": part, "region": "eu"}
            samples.append(Sample("consumer_lag", labels, T0 + s, base + s))
        samples.append(Sample("consumer_lag", {"version": "v1", "partition": "0"}, T0 + s, 1.0))
        samples.append(Sample("consumer_lag", {"version": "v2", "region": "us"}, T0 + s, 1e6))
        samples.append(Sample("staleness_ms", {"stage": "fanout"}, T0 + s, float(s % 10)))
    store.append(samples[: len(samples) // 2])
    store.seal()  # half sealed into chunks, half in the head: both must be read
    store.append(samples[len(samples) // 2 :])
    yield store
    store.close()


@pytest.fixture
def source(store):
    return build_source("builtin", BuiltinSourceConfig(), store=store)


def run(coro):
    return asyncio.run(coro)


def test_factory_builds_a_builtin_source_and_needs_the_store(store):
    source = build_source("local", BuiltinSourceConfig(), store=store)
    assert isinstance(source, BuiltinSource) and source.name == "local" and source.kind == "builtin"
    with pytest.raises(ValueError, match="needs the node's store"):
        build_source("local", BuiltinSourceConfig(), store=None)


def test_error_rate_and_request_rate_count_only_the_arms_server_spans(source):
    stable = run(source.scalar("error_rate_pct", Arm.STABLE, TARGET, WINDOW))
    canary = run(source.scalar("error_rate_pct", Arm.CANARY, TARGET, WINDOW))
    assert (stable.value, stable.samples) == (pytest.approx(2.0), 100)
    assert (canary.value, canary.samples) == (pytest.approx(25.0), 20)
    rate = run(source.scalar("request_rate", Arm.STABLE, TARGET, WINDOW))
    assert rate.value == pytest.approx(100 / 60) and rate.samples == 100


def test_latency_quantiles_and_mean_match_the_arms_durations(source):
    durations = np.arange(1, 101, dtype=float)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        got = run(source.scalar(f"latency_{name}_ms", Arm.STABLE, TARGET, WINDOW))
        assert got.value == pytest.approx(np.quantile(durations, q), rel=1e-5), name
        assert got.samples == 100
    mean = run(source.scalar("latency_mean_ms", Arm.CANARY, TARGET, WINDOW))
    assert mean.value == pytest.approx(105.0)  # mean of 10, 20, …, 200


def test_root_spans_stand_in_when_a_version_has_no_server_spans(source):
    got = run(source.scalar("latency_p50_ms", Arm.BASELINE, TARGET, WINDOW))
    assert got.samples == 10  # the 10 roots, not their 10 children
    assert got.value == pytest.approx(104.5)


def test_an_arm_without_spans_is_no_data_not_zero(source):
    target = Target("checkout", {Arm.STABLE: "v1", Arm.CANARY: "v9"})
    for query in ("error_rate_pct", "latency_p95_ms", "latency_mean_ms", "log_error_ratio_pct"):
        got = run(source.scalar(query, Arm.CANARY, target, WINDOW))
        assert (got.value, got.samples) == (None, 0), query
    assert run(source.scalar("request_rate", Arm.CANARY, target, WINDOW)).value == 0.0


def test_the_window_end_is_excluded_and_the_start_included(source):
    earlier = Window(T0 - 1, T0)
    got = run(source.scalar("error_rate_pct", Arm.STABLE, TARGET, earlier))
    assert (got.value, got.samples) == (100.0, 1)  # the one span at T0 - 1; none at T0
    later = Window(T0 + 60, T0 + 61)
    assert run(source.scalar("latency_p99_ms", Arm.STABLE, TARGET, later)).value == 9000.0


def test_log_error_ratio_counts_error_and_fatal_records(source):
    got = run(source.scalar("log_error_ratio_pct", Arm.CANARY, TARGET, WINDOW))
    assert (got.value, got.samples) == (pytest.approx(30.0), 40)
    stable = run(source.scalar("log_error_ratio_pct", Arm.STABLE, TARGET, WINDOW))
    assert (stable.value, stable.samples) == (0.0, 50)


def test_counts_of_spans_and_logs(source):
    spans = run(source.counts("error_spans", "spans", Arm.CANARY, TARGET, WINDOW))
    assert (spans.events, spans.trials) == (5, 20)
    logs = run(source.counts("error_logs", "logs", Arm.CANARY, TARGET, WINDOW))
    assert (logs.events, logs.trials) == (12, 40)
    mixed = run(source.counts("error_logs", "spans", Arm.STABLE, TARGET, WINDOW))
    assert (mixed.events, mixed.trials) == (0, 100)
    with pytest.raises(SourceError, match="unknown builtin count 'requests'") as err:
        run(source.counts("error_spans", "requests", Arm.CANARY, TARGET, WINDOW))
    assert not err.value.retryable


def test_latency_distribution_is_the_raw_durations(source):
    got = run(source.distribution("latency", Arm.CANARY, TARGET, WINDOW))
    assert sorted(got.values) == pytest.approx([10.0 * (i + 1) for i in range(20)])
    assert got.edges == () and got.counts == ()
    with pytest.raises(SourceError, match="known: latency"):
        run(source.distribution("size", Arm.CANARY, TARGET, WINDOW))


def test_exemplars_are_failed_requests_newest_first_then_the_slowest(source):
    got = run(source.exemplars(Arm.CANARY, TARGET, WINDOW, limit=7))
    assert [e.status for e in got[:5]] == ["error"] * 5
    assert [e.ts for e in got[:5]] == [T0 + 2 * i for i in (19, 18, 17, 16, 15)]
    # then the slowest that are not already listed: 150 ms, 140 ms
    assert [e.duration_ms for e in got[5:]] == pytest.approx([150.0, 140.0])
    assert all(e.trace_id and e.span_id and e.name.startswith("GET /item/") for e in got)
    assert len({(e.trace_id, e.span_id) for e in got}) == 7
    assert len(run(source.exemplars(Arm.CANARY, TARGET, WINDOW, limit=2))) == 2


def test_metric_queries_narrow_by_the_arms_version_service_and_labels(source):
    def q(text, arm=Arm.CANARY):
        return run(source.scalar(text, arm, TARGET, WINDOW))

    # canary series: partition 0 = 100..159, partition 1 = 200..259 (region=us is not ours)
    avg = q("metric:consumer_lag")
    assert (avg.value, avg.samples) == (pytest.approx(179.5), 120)
    assert q("metric:consumer_lag:max").value == 259.0
    assert q("metric:consumer_lag:min").value == 100.0
    assert q("metric:consumer_lag:last").value == 159.0 + 259.0  # newest of each, added up
    assert q("metric:consumer_lag:sum").value == pytest.approx(sum(range(100, 160)) * 2 + 6000)
    p95 = np.quantile(np.r_[np.arange(100, 160), np.arange(200, 260)], 0.95)
    assert q("metric:consumer_lag:p95").value == pytest.approx(p95)
    assert q('metric:consumer_lag{partition="1"}:max').value == 259.0
    assert q('metric:consumer_lag{partition!="1"}:max').value == 159.0
    assert q("metric:consumer_lag:max", Arm.STABLE).value == 1.0
    # a query that names the version itself is not narrowed to the arm's
    assert q('metric:consumer_lag{region="us"}:max').value == 1e6


def test_metric_placeholders_are_expanded_before_matching(source):
    got = run(source.scalar('metric:consumer_lag{region="{{labels.region}}"}:max',
                            Arm.CANARY, TARGET, WINDOW))  # fmt: skip
    assert got.value == 259.0


def test_a_metric_without_a_version_label_serves_every_arm(source):
    for arm in (Arm.STABLE, Arm.CANARY):
        got = run(source.scalar("metric:staleness_ms:max", arm, TARGET, WINDOW))
        assert (got.value, got.samples) == (9.0, 60)


def test_unknown_metric_is_no_data_and_unknown_query_is_a_permanent_error(source):
    assert run(source.scalar("metric:nope:max", Arm.CANARY, TARGET, WINDOW)).value is None
    with pytest.raises(SourceError, match="unknown builtin query 'p95'") as err:
        run(source.scalar("p95", Arm.CANARY, TARGET, WINDOW))
    assert not err.value.retryable
    with pytest.raises(SourceError, match="no version for the baseline arm"):
        run(source.scalar("error_rate_pct", Arm.BASELINE, Target("checkout", {}), WINDOW))


def test_metric_query_syntax():
    q = parse_metric_query('metric:http.lag{topic="a\\"b", env!="dev"}:p95')
    assert (q.name, q.equal, q.not_equal, q.aggregation) == (
        "http.lag",
        {"topic": 'a"b'},
        {"env": "dev"},
        "p95",
    )
    assert parse_metric_query("metric:job:rate5m").name == "job:rate5m"
    assert parse_metric_query("metric:job:rate5m:max").aggregation == "max"
    with pytest.raises(SourceError, match="unknown aggregation 'median'"):
        parse_metric_query('metric:x{a="b"}:median')
    with pytest.raises(SourceError, match="cannot read the label matchers"):
        parse_metric_query("metric:x{a=b}")


def test_sqlite_reads_run_off_the_event_loop_thread(source, monkeypatch):
    threads = []
    real = sql.span_summary

    def spy(*args):
        threads.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(sql, "span_summary", spy)
    run(source.scalar("error_rate_pct", Arm.CANARY, TARGET, WINDOW))
    assert threads and threading.main_thread() not in threads
