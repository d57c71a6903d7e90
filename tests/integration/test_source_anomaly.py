"""The anomaly telemetry source against a real SQLite store holding insight series, and a
rollout spec that gates on it."""

from __future__ import annotations

import asyncio

import pytest

from sentra.events import Sample
from sentra.rollout.sources import Arm, SourceError, Target, Window, build_source
from sentra.rollout.sources.config import AnomalySourceConfig
from sentra.rollout.spec import load_spec
from sentra.store.sqlite import SqliteStore, Tier

T0 = 1_700_000_040.0
WINDOW = Window(T0, T0 + 60)
TARGET = Target(service="shop", versions={Arm.STABLE: "v1", Arm.CANARY: "v2"})


def _score(version: str, series: str, values: list[float]) -> list[Sample]:
    labels = {"series": series, "service": "shop", "version": version}
    return [Sample("sentra.anomaly.score", labels, T0 + 10 * i, v) for i, v in enumerate(values)]


@pytest.fixture
def source(tmp_path):
    store = SqliteStore(tmp_path / "db" / "sentra.db", tiers=[Tier(60, 10)])
    samples = [
        *_score("v1", "http.latency", [0.1, 0.2, 0.1, 0.3, 0.2, 0.1]),
        *_score("v2", "http.latency", [0.2, 1.0, 1.0, 0.4, 0.3, 0.2]),
        *_score("v2", "queue.depth", [0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
        Sample("sentra.anomaly.rate", {"host": "web-1"}, T0 + 5, 2.5),
        Sample("sentra.anomaly.rate", {"host": "web-2"}, T0 + 5, 40.0),
        Sample("sentra.anomaly.score", {"series": "x"}, T0 - 30, 1.0),  # before the window
    ]
    store.write(samples=samples)
    src = build_source("anom", AnomalySourceConfig(type="anomaly"), store=store)
    yield src
    asyncio.run(src.close())
    store.close()


def _scalar(src, query, arm=Arm.CANARY, target=TARGET):
    return asyncio.run(src.scalar(query, arm, target, WINDOW))


def test_score_of_the_arm_series(source):
    assert source.kind == "anomaly"
    s = _scalar(source, "score")
    assert s.value == 1.0 and s.samples == 12
    assert _scalar(source, "score", Arm.STABLE).value == pytest.approx(0.3)
    one = _scalar(source, 'score{series="queue.depth"}:avg')
    assert one.value == pytest.approx(0.1) and one.samples == 6
    assert _scalar(source, "score:avg").value == pytest.approx(3.7 / 12)


def test_anomalous_share_and_counts(source):
    pct = _scalar(source, "anomalous_pct")
    assert pct.value == pytest.approx(100 * 2 / 12)
    counts = asyncio.run(source.counts("anomalous", "scored", Arm.CANARY, TARGET, WINDOW))
    assert (counts.events, counts.trials) == (2.0, 12.0)
    dist = asyncio.run(source.distribution("score", Arm.STABLE, TARGET, WINDOW))
    assert sorted(dist.values) == [0.1, 0.1, 0.1, 0.2, 0.2, 0.3]


def test_host_rate_narrowed_by_the_target_labels(source):
    web1 = Target("shop", {Arm.CANARY: "v2"}, labels={"host": "web-1"})
    assert _scalar(source, "rate", target=web1).value == 2.5
    assert _scalar(source, "rate").value == 40.0  # no host named: every host


def test_no_series_is_no_data_and_bad_queries_are_not_retryable(source):
    other = Target("cart", {Arm.CANARY: "v9"})
    assert _scalar(source, 'score{series="nope"}').value is None
    assert _scalar(source, "score", target=other).value is None  # shop's series are not cart's
    for bad in ("latency", "score:sum", "score{oops}"):
        with pytest.raises(SourceError) as err:
            _scalar(source, bad)
        assert not err.value.retryable


def test_a_spec_gates_on_the_anomaly_source():
    spec = load_spec(
        """
name: shop
target: {service: shop, stable: v1, canary: v2}
actuator: {type: command, argv: ["true"]}
steps: [{weight: 10, hold: 30s}]
sources:
  anom: {type: anomaly, threshold: 0.9}
gates:
  - {name: canary-anomalies, source: anom, query: anomalous_pct, max: 5, no_data: pass}
"""
    )
    assert isinstance(spec.sources["anom"], AnomalySourceConfig)
    assert spec.sources["anom"].threshold == 0.9
    assert spec.gates[0].source == "anom"
