"""The online baseline: robust level and spread, time-of-day profile, serialisable state."""

from __future__ import annotations

import math
import random

import msgspec
import pytest

from sentra.analysis.baseline import DAY_S, Baseline, BaselineParams
from sentra.analysis.predict import Trend

T0 = 1_700_000_000.0


def _feed(b: Baseline, values: list[float], *, step: float = 60.0, t0: float = T0) -> float:
    ts = t0
    for v in values:
        b.learn(ts, v)
        ts += step
    return ts


def test_learns_level_and_spread_of_noise():
    rng = random.Random(1)
    b = Baseline()
    ts = _feed(b, [10 + rng.gauss(0, 2) for _ in range(3000)])
    exp = b.expected(ts)
    assert exp.ready and not exp.seasonal
    assert exp.level == pytest.approx(10, abs=0.6)
    assert exp.sigma == pytest.approx(2, rel=0.2)


def test_not_ready_while_warming_up():
    b = Baseline()
    ts = _feed(b, [1.0] * (BaselineParams().warmup - 1))
    assert not b.expected(ts).ready
    b.learn(ts, 1.0)
    assert b.expected(ts + 60).ready


def test_one_wild_value_moves_it_little():
    rng = random.Random(2)
    b = Baseline()
    ts = _feed(b, [100 + rng.gauss(0, 1) for _ in range(500)])
    before = b.expected(ts)
    b.learn(ts, 1e9)  # a wild reading is winsorised before it is learnt
    after = b.expected(ts + 60)
    assert abs(after.level - before.level) < 1.0
    assert after.sigma < 2 * before.sigma


def test_flat_series_keeps_a_spread_floor():
    b = Baseline()
    ts = _feed(b, [50.0] * 200)
    exp = b.expected(ts)
    assert exp.sigma > 0
    assert exp.sigma == pytest.approx(50 * BaselineParams().rel_floor)


def _daily(ts: float) -> float:
    return 50 + 30 * math.sin(2 * math.pi * (ts % DAY_S) / DAY_S)


def test_daily_pattern_is_used_once_the_history_shows_it():
    rng = random.Random(3)
    b = Baseline()
    ts = T0
    while ts < T0 + 1.5 * DAY_S:
        b.learn(ts, _daily(ts) + rng.gauss(0, 1))
        ts += 60
    assert not b.seasonal  # under profile_min_days of history
    while ts < T0 + 4 * DAY_S:
        b.learn(ts, _daily(ts) + rng.gauss(0, 1))
        ts += 60
    assert b.seasonal
    for offset in (0, 6 * 3600, 12 * 3600, 18 * 3600):
        at = ts + offset
        exp = b.expected(at)
        assert exp.seasonal
        assert exp.level == pytest.approx(_daily(at), abs=3.0)
        assert exp.sigma < 5.0  # the hour's own spread, not the whole day's range


def test_no_daily_pattern_in_plain_noise():
    rng = random.Random(4)
    b = Baseline()
    _feed(b, [rng.gauss(0, 1) for _ in range(int(4 * DAY_S / 60))])
    assert not b.seasonal


def test_state_round_trips_through_msgpack_and_json():
    rng = random.Random(5)
    b = Baseline()
    ts = _feed(b, [rng.gauss(5, 1) for _ in range(100)])
    for codec in (msgspec.msgpack, msgspec.json):
        back = codec.decode(codec.encode(b), type=Baseline)
        assert back == b
        assert back.expected(ts) == b.expected(ts)


def test_gap_in_samples_does_not_reset_the_level():
    b = Baseline()
    ts = _feed(b, [10.0 + (i % 2) for i in range(200)])
    b.learn(ts + 7 * DAY_S, 100.0)  # a week away, then one very different value
    assert b.expected(ts + 7 * DAY_S).level < 20


def test_trend_predicts_a_filling_disk():
    t = Trend()
    # 0.5 %/hour for 3 hours, one point a minute, plus a burst that must not tilt the fit
    for i in range(180):
        value = 0.5 + 0.005 * i / 60 + (0.2 if i == 100 else 0.0)
        t.add(T0 + i * 60, value)
    hours = t.hours_until(1.0)
    assert hours is not None
    assert hours == pytest.approx((1.0 - (0.5 + 0.005 * 179 / 60)) / 0.005, rel=0.05)
    assert t.slope_per_hour() == pytest.approx(0.005, rel=0.05)


def test_trend_says_nothing_when_flat_falling_or_short():
    short = Trend()
    for i in range(5):
        short.add(T0 + i * 60, 0.5 + i * 0.01)
    assert short.hours_until(1.0) is None
    for slope in (0.0, -0.001):
        t = Trend()
        for i in range(60):
            t.add(T0 + i * 60, 0.5 + slope * i)
        assert t.hours_until(1.0) is None


def test_trend_at_the_limit_is_zero_hours():
    t = Trend()
    for i in range(30):
        t.add(T0 + i * 60, 1.0)
    assert t.hours_until(1.0) == 0.0
