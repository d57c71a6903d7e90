"""The pure rollout state machine, driven with plain inputs and explicit time."""

from __future__ import annotations

import dataclasses

import pytest

from sentra.rollout import machine as m
from sentra.rollout.actuators.base import Weights
from sentra.rollout.machine import GateStatus, Observation, Phase, RolloutState
from sentra.rollout.spec import load_spec

SPEC = """\
name: shop
target: {service: shop, stable: v1, canary: v2}
steps:
  - {weight: 10, hold: 10s}
  - {weight: 50, hold: 10s}
  - {weight: 100, hold: 0s}
analysis: {interval: 2s, warmup: 2s, consecutive_breaches_to_rollback: 2}
gates:
  - {name: errors, query: error_rate_pct, max: 1, no_data: hold}
"""


def spec(text: str = SPEC):
    return load_spec(text)


def gate(status: str, value: float | None = 0.1, name: str = "errors") -> GateStatus:
    return GateStatus(
        name=name,
        status=status,
        value=value,
        samples=100,
        op="<=",
        bound=1.0,
        no_data="hold",
        nodata=status in ("hold", "inconclusive"),
        source="builtin",
        query="error_rate_pct",
        explanation=f"error rate is {value}",
    )


def started(s=None, now: float = 100.0) -> RolloutState:
    s = s or spec()
    t = m.start(RolloutState(name="shop", created_at=now), s, now)
    assert t.state.phase is Phase.PROGRESSING and not t.state.applied
    return m.applied(t.state, t.state.weights, now).state


def run(state: RolloutState, s, statuses: list[str], start: float, every: float = 2.0):
    decisions = []
    now = start
    for status in statuses:
        now += every
        t = m.tick(state, s, Observation(now=now, gates=[gate(status)]))
        state = t.state
        decisions.extend(t.decisions)
        if not state.applied:
            done = m.applied(state, state.weights, now)
            state = done.state
            decisions.extend(done.decisions)
    return state, decisions, now


def test_start_sets_the_first_step_weights_and_waits_for_the_actuator():
    s = spec()
    t = m.start(RolloutState(name="shop"), s, 0.0)
    assert t.state.weights == Weights(stable=90, canary=10)
    assert [d.kind for d in t.decisions] == ["start"]
    assert m.tick(t.state, s, Observation(now=5.0, gates=[gate("breach")])).state == t.state


def test_breach_twice_in_a_row_rolls_back():
    s = spec()
    state, decisions, _ = run(started(s), s, ["pass", "breach", "breach"], 100.0)
    assert state.phase is Phase.ROLLED_BACK
    assert [d.kind for d in decisions] == ["rollback", "rolled_back"]
    assert "breached twice in a row" in decisions[0].reason
    assert decisions[0].evidence["gates"][0]["status"] == "breach"
    assert state.weights == Weights(stable=100, canary=0)


def test_a_single_breach_between_passes_does_not_roll_back():
    s = spec()
    state, decisions, _ = run(started(s), s, ["breach", "pass", "breach", "pass"], 100.0)
    assert state.phase is Phase.PROGRESSING
    assert not decisions


def test_warmup_ignores_the_first_seconds_after_a_weight_change():
    s = spec()
    state = started(s, now=100.0)
    t = m.tick(state, s, Observation(now=101.0, gates=[gate("breach")]))
    assert t.state.breaches == {} and "warming up" in t.state.message


def test_healthy_steps_advance_after_their_hold_and_then_promote():
    s = spec()
    state, decisions, _ = run(started(s), s, ["pass"] * 20, 100.0)
    assert state.phase is Phase.PROMOTED
    assert [d.kind for d in decisions] == ["step", "promote", "promoted"]
    assert decisions[0].weights == {"stable": 50, "canary": 50, "baseline": 0}


def test_no_data_with_hold_policy_stops_the_clock():
    s = spec()
    state, decisions, _ = run(started(s), s, ["hold"] * 20, 100.0)
    assert state.phase is Phase.PROGRESSING and state.step_index == 0
    assert state.hold_elapsed == 0 and "waiting for data" in state.message
    assert not decisions


def test_no_data_with_inconclusive_policy_pauses_at_the_end_of_the_step():
    s = spec()
    state, decisions, _ = run(started(s), s, ["inconclusive"] * 10, 100.0)
    assert state.phase is Phase.PAUSED
    assert [d.kind for d in decisions] == ["pause"]
    assert "no data" in decisions[0].reason


def test_time_the_node_was_down_does_not_count_toward_the_hold():
    s = spec()
    state, _, now = run(started(s), s, ["pass"], 100.0)
    held = state.hold_elapsed
    t = m.tick(state, s, Observation(now=now + 3600, gates=[gate("pass")]))
    assert t.state.hold_elapsed - held <= 3 * s.analysis.interval
    assert t.state.step_index == 0  # an hour away does not complete a 10 s step


def test_judge_fail_rolls_back_at_once():
    s = spec()
    state = started(s)
    obs = Observation(
        now=110.0, gates=[gate("pass")], judge={"verdict": "fail", "explanation": "errors x3"}
    )
    t = m.tick(state, s, obs)
    assert t.state.phase is Phase.ROLLING_BACK
    assert "errors x3" in t.decisions[0].reason


def test_manual_step_waits_for_approval_and_resume_approves():
    s = spec(SPEC.replace("{weight: 10, hold: 10s}", "{weight: 10, hold: 10s, manual: true}"))
    state, decisions, now = run(started(s), s, ["pass"] * 8, 100.0)
    assert state.phase is Phase.PAUSED and state.awaiting_approval
    assert decisions[-1].kind == "hold"
    t = m.command(state, s, "resume", actor="token:alice", now=now)
    assert t.state.phase is Phase.PROGRESSING and t.state.step_index == 1
    assert t.decisions[0].actor == "token:alice"


def test_a_breach_while_paused_still_rolls_back():
    s = spec()
    state = m.command(started(s), s, "pause", actor="token:a", now=101.0).state
    state, _, _ = run(state, s, ["breach", "breach"], 101.0)
    assert state.phase is Phase.ROLLED_BACK


def test_abort_rolls_back_and_ends_aborted_and_retry_starts_over():
    s = spec()
    t = m.command(started(s), s, "abort", actor="token:a", now=101.0)
    assert t.state.phase is Phase.ROLLING_BACK and not t.state.applied
    done = m.applied(t.state, t.state.weights, 102.0)
    assert done.state.phase is Phase.ABORTED and done.decisions[0].kind == "aborted"
    again = m.command(done.state, s, "retry", actor="token:a", now=103.0)
    assert again.state.phase is Phase.PROGRESSING and again.state.step_index == 0
    assert again.state.weights == Weights(stable=90, canary=10) and not again.state.aborting


@pytest.mark.parametrize(
    ("phase", "action"),
    [(Phase.PROMOTED, "pause"), (Phase.PROGRESSING, "resume"), (Phase.ROLLED_BACK, "abort")],
)
def test_actions_that_do_not_apply_are_refused_with_a_reason(phase, action):
    state = dataclasses.replace(started(), phase=phase)
    with pytest.raises(m.CommandRefused, match="rollout"):
        m.command(state, spec(), action, actor="x", now=1.0)


def test_promote_full_skips_the_remaining_steps():
    s = spec()
    t = m.command(started(s), s, "promote", actor="x", now=101.0, full=True)
    assert t.state.phase is Phase.PROMOTING and t.state.weights == Weights(stable=0, canary=100)


def test_retryable_actuator_failures_are_recorded_once_and_permanent_ones_fail():
    s = spec()
    state = m.start(RolloutState(name="shop"), s, 0.0).state
    first = m.actuator_failed(state, "socket down", retryable=True, now=1.0)
    second = m.actuator_failed(first.state, "socket down", retryable=True, now=2.0)
    assert len(first.decisions) == 1 and not second.decisions
    assert second.state.phase is Phase.PROGRESSING
    bad = m.actuator_failed(state, "no such backend", retryable=False, now=3.0)
    assert bad.state.phase is Phase.FAILED and "no such backend" in bad.decisions[0].reason


def test_state_survives_a_round_trip_through_json():
    state, _, _ = run(started(), spec(), ["pass", "breach"], 100.0)
    assert RolloutState.from_json(state.to_json()) == state


def test_with_a_baseline_canary_and_baseline_get_the_same_weight():
    s = spec(SPEC.replace("canary: v2}", "canary: v2, baseline: v1b}"))
    assert m.step_weights(s, 1) == Weights(stable=0, canary=50, baseline=50)
    assert m.judge_alpha(s) == pytest.approx(0.005)
