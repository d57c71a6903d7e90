"""Replaying a policy over telemetry recorded in a real SQLite store."""

from __future__ import annotations

import asyncio

import pytest

from sentra.events import Span
from sentra.rollout.replay import parse_when, replay
from sentra.rollout.sources import build_source
from sentra.rollout.sources.config import BuiltinSourceConfig
from sentra.rollout.spec import load_spec
from sentra.store.sqlite import SqliteStore, Tier

T0 = 1_700_000_040.0  # a whole minute
MINUTES = 10
RATE = {"v1": 20, "v2": 5}  # spans per second

SPEC = """
name: checkout
target: {service: checkout, stable: v1, canary: v2}
steps:
  - {weight: 10, hold: 2m}
  - {weight: 25, hold: 2m}
  - {weight: 50, hold: 2m}
  - {weight: 100, hold: 30s}
analysis: {interval: 10s, window: 60s, consecutive_breaches_to_rollback: 2}
gates:
  - {name: errors, query: error_rate_pct, max: 5}
  - {name: p95, query: latency_p95_ms, max: 100}
"""


def _fill(store: SqliteStore, *, v2_errors_from: float | None) -> None:
    """MINUTES of requests: v1 always healthy; v2 healthy, then every other request fails
    from ``v2_errors_from`` on (None: never)."""
    spans = []
    n = 0
    for second in range(MINUTES * 60):
        for version, rate in RATE.items():
            for i in range(rate):
                n += 1
                start = T0 + second + i / rate
                bad = (
                    version == "v2"
                    and v2_errors_from is not None
                    and start >= v2_errors_from
                    and n % 2 == 0
                )
                spans.append(
                    Span(
                        trace_id=f"{n:032x}",
                        span_id=f"{n:016x}",
                        name="GET /pay",
                        start=start,
                        end=start + (20 + (n % 7)) / 1000.0,
                        service="checkout",
                        version=version,
                        kind="server",
                        status="error" if bad else "ok",
                    )
                )
    store.write(spans=spans)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "db" / "sentra.db"


def _replay(store_path, spec_text: str = SPEC, end: float = T0 + MINUTES * 60):
    spec = load_spec(spec_text)
    store = SqliteStore(store_path, readonly=True)
    try:
        sources = {
            "builtin": build_source("builtin", BuiltinSourceConfig(type="builtin"), store=store)
        }
        return asyncio.run(replay(spec, sources, T0, end))
    finally:
        store.close()


def test_errors_from_minute_three_roll_back_on_the_second_breach(store_path):
    writer = SqliteStore(store_path, tiers=[Tier(60, 10)])
    _fill(writer, v2_errors_from=T0 + 180)
    writer.close()

    result = _replay(store_path)

    kinds = [(d.kind, d.ts - T0) for d in result.decisions]
    # start, step to 25% after 2 min, then the errors: the gate window [130 s, 190 s) holds
    # 10 s of 50 % errors (10 %), the breach at 190 s and again at 200 s rolls back.
    assert kinds == [("start", 0), ("step", 120), ("rollback", 200), ("rolled_back", 200)]
    rollback = result.decisions[2]
    assert rollback.from_phase == "progressing" and rollback.step_index == 1
    assert "errors breached twice in a row" in rollback.reason
    gates = {g["name"]: g for g in rollback.evidence["gates"]}
    assert gates["errors"]["status"] == "breach" and gates["errors"]["value"] > 5
    assert gates["p95"]["status"] == "pass"
    assert result.phase == "rolled_back" and result.finished
    assert result.decisions[-1].weights == {"stable": 100, "canary": 0, "baseline": 0}


def test_healthy_recording_is_promoted_after_every_hold(store_path):
    writer = SqliteStore(store_path, tiers=[Tier(60, 10)])
    _fill(writer, v2_errors_from=None)
    writer.close()

    result = _replay(store_path)

    kinds = [(d.kind, d.ts - T0) for d in result.decisions]
    assert kinds == [
        ("start", 0),
        ("step", 120),
        ("step", 240),
        ("promote", 360),
        ("promoted", 390),
    ]
    assert result.phase == "promoted"
    assert result.decisions[-1].weights["canary"] == 100
    # one evaluation every 10 s from 10 s to 390 s; new weights apply within the same tick
    assert result.evaluations == 390 // 10


def test_judge_runs_in_the_replay_and_fails_a_slower_canary(store_path):
    writer = SqliteStore(store_path, tiers=[Tier(60, 10)])
    spans = []
    for second in range(300):
        for version, rate, ms in (("v1", 20, 20.0), ("v2", 5, 60.0)):
            for i in range(rate):
                start = T0 + second + i / rate
                k = len(spans)
                spans.append(
                    Span(
                        trace_id=f"{k:032x}",
                        span_id=f"{k:016x}",
                        name="GET /",
                        start=start,
                        end=start + (ms + (k % 5)) / 1000.0,
                        service="checkout",
                        version=version,
                        kind="server",
                        status="ok",
                    )
                )
    writer.write(spans=spans)
    writer.close()
    spec = SPEC.split("gates:")[0] + (
        "judge:\n  metrics:\n    - {name: latency, kind: latency, floor_pct: 10}\n"
    )

    result = _replay(store_path, spec, end=T0 + 300)

    assert [d.kind for d in result.decisions] == ["start", "rollback", "rolled_back"]
    rollback = result.decisions[1]
    assert rollback.ts - T0 <= 60
    assert rollback.reason.startswith("the judge found a regression")
    assert rollback.evidence["judge"]["verdict"] == "fail"


def test_replay_that_ends_mid_rollout_reports_where_it_stood(store_path):
    writer = SqliteStore(store_path, tiers=[Tier(60, 10)])
    _fill(writer, v2_errors_from=None)
    writer.close()

    result = _replay(store_path, end=T0 + 150)

    assert [d.kind for d in result.decisions] == ["start", "step"]
    assert result.phase == "progressing" and not result.finished
    assert result.state.step_index == 1


def test_times_are_read_as_unix_iso_or_relative():
    now = 1_764_615_000.0
    assert parse_when("1764614000", now) == 1_764_614_000.0
    assert parse_when("-15m", now) == now - 900
    assert parse_when("-2h", now) == now - 7200
    assert parse_when("now", now) == now
    assert parse_when("2025-12-01T18:50:00+00:00", now) == 1_764_615_000.0
    assert parse_when("2025-12-01T18:50:00Z", now) == 1_764_615_000.0
    with pytest.raises(ValueError, match="relative time like -15m"):
        parse_when("yesterday", now)
