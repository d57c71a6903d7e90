"""Rollout specs: the seed's policy as written, line-numbered errors, the published schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentra.rollout.spec import SpecError, json_schema, load_spec, parse_duration

ROOT = Path(__file__).resolve().parents[2]

SEED = """\
name: checkout
target: {service: checkout, stable: v1, canary: v2}
slo:
  latency_p95_ms: 120
  error_rate_pct: 0.5
  consumer_lag_max: 5000
  staleness_ms: 300
rollout_gates:
  consecutive_breaches_to_rollback: 2
  evaluation_window_sec: 60
"""


def issues(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(SpecError) as info:
        load_spec(text)
    return [(i.line, i.column, i.path, i.message) for i in info.value.issues]


def test_the_seeds_policy_is_expressible_as_written():
    spec = load_spec(SEED)
    gates = {g.name: (g.query, g.max, g.no_data, g.min_samples) for g in spec.all_gates}
    assert gates == {
        "latency_p95_ms": ("latency_p95_ms", 120, "hold", 100),
        "error_rate_pct": ("error_rate_pct", 0.5, "hold", 200),
        "consumer_lag_max": ("metric:consumer_lag:max", 5000, "inconclusive", 0),
        "staleness_ms": ("metric:staleness_ms:max", 300, "inconclusive", 0),
    }
    assert spec.breaches_to_rollback == 2 and spec.window == 60
    assert [s.weight for s in spec.steps] == [5, 15, 30, 50, 100]


def test_every_error_is_reported_with_line_and_column():
    text = """\
name: checkout
target:
  service: checkout
  stable: v1
  canary: v2
steps:
  - weight: 0
  - weight: 20
    hold: soon
    colour: red
gates:
  - {name: p95, query: latency_p95_ms}
actuator: {type: haproxi}
"""
    found = issues(text)
    by_path = {p: (line, msg) for line, _c, p, msg in found}
    assert by_path["steps.0.weight"][0] == 7
    assert by_path["steps.1.hold"] == (
        9,
        "'soon' is not a duration: write e.g. '30s', '2m', '500ms' or 45",
    )
    assert by_path["steps.1.colour"][0] == 10 and "unknown field" in by_path["steps.1.colour"][1]
    assert by_path["gates.0"][0] == 12 and "needs a bound" in by_path["gates.0"][1]
    assert by_path["actuator"][0] == 13 and "haproxi" in by_path["actuator"][1]


def test_yaml_syntax_errors_and_duplicate_keys_point_at_the_spot():
    assert issues("name: a\ntarget: [unclosed\n")[0][0] == 3
    dup = issues("name: a\nname: b\ntarget: {service: s, stable: a, canary: b}\n")
    assert dup[0][:3] == (2, 1, "name") and "twice" in dup[0][3]


def test_cross_field_rules_explain_themselves():
    (msg,) = [
        i[3] for i in issues(SEED.replace("slo:", "steps: [{weight: 30}, {weight: 20}]\nslo:"))
    ]
    assert "must increase" in msg
    text = SEED.replace("slo:", "steps:\n  - {weight: 30}\n  - {weight: 20}\nslo:")
    ((line, _col, path, _msg),) = issues(text)
    assert (line, path) == (5, "steps.1.weight")
    no_source = SEED + "gates: [{name: lag, source: prom, query: 'up', max: 1}]\n"
    assert "define it under sources" in issues(no_source)[0][3]
    nothing = "name: a\ntarget: {service: s, stable: a, canary: b}\n"
    assert "needs something to judge it by" in issues(nothing)[0][3]


def test_durations_accept_units_and_numbers():
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2m") == 120
    assert parse_duration(45) == 45.0
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_published_json_schema_is_current():
    """docs/rollout.schema.json is generated: `python tools/gen_rollout_schema.py`."""
    published = json.loads((ROOT / "docs" / "rollout.schema.json").read_text())
    assert published == json_schema()
