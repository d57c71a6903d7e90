"""The alert state machine: for-duration, hysteresis, flapping, absence, rollout, restore."""

from __future__ import annotations

from sentra.alerts.engine import Alert, AlertEngine
from sentra.alerts.spec import AlertRules, RuleSpec, load_rules

RULES = load_rules("""\
rules:
  - {name: hot, kind: threshold, series: cpu, threshold: 90, for: 30s, clear_at: 80, clear_for: 10s}
  - {name: quick, kind: threshold, series: cpu, op: "<", threshold: 5}
  - {name: gone, kind: absence, series: beat, for: 60s}
  - {name: rb, kind: rollout}
  - {name: rb-timed, kind: rollout, rollout: "pay*", resolve_after: 5m}
""")


def rule(name: str) -> RuleSpec:
    found = RULES.rule(name)
    assert found is not None
    return found


def states(alerts: list[Alert]) -> list[str]:
    return [a.state for a in alerts]


def feed(engine: AlertEngine, name: str, values: list[tuple[float, float]]) -> list[str]:
    """Observe (t, value) pairs on one series, ticking at each t; every transition."""
    out: list[str] = []
    for t, v in values:
        out += states(engine.observe(rule(name), "cpu", {}, v, t))
        out += states(engine.tick(t))
    return out


def test_pending_then_firing_after_for_then_resolved_with_hysteresis():
    e = AlertEngine(RULES)
    assert feed(e, "hot", [(0, 95)]) == ["pending"]
    assert feed(e, "hot", [(10, 96), (29, 97)]) == []
    assert feed(e, "hot", [(30, 97)]) == ["firing"]
    fired = e.active()[0]
    assert (fired.fired_at, fired.started_at, fired.value) == (30, 0, 97)
    # Below the threshold but above clear_at: still firing, however long.
    assert feed(e, "hot", [(t, 85) for t in range(31, 200, 5)]) == []
    # At clear_at, but only for 9 s before it goes up again: still firing.
    assert feed(e, "hot", [(200, 80), (205, 79), (209, 79), (210, 86)]) == []
    assert feed(e, "hot", [(220, 70), (225, 70)]) == []
    assert feed(e, "hot", [(230, 70)]) == ["resolved"]
    assert e.active() == []
    assert fired.resolved_at == 230 and "back past 80" in fired.reason


def test_a_flapping_value_never_fires_and_a_firing_one_never_spams():
    e = AlertEngine(RULES)
    # Above and below the threshold every 10 s for an hour: never 30 s above in a row.
    flapping = [(t, 95.0 if (t // 10) % 2 == 0 else 70.0) for t in range(0, 3600)]
    seen = feed(e, "hot", flapping)
    assert "firing" not in seen
    assert set(seen) == {"pending", "inactive"}  # pending flickers, nobody is notified
    # Once it has fired, flapping between the threshold and clear_at changes nothing, and
    # dips below clear_at shorter than clear_for do not resolve it.
    e = AlertEngine(RULES)
    feed(e, "hot", [(0, 95), (30, 95)])
    wobble = [(t, [95.0, 85.0, 78.0, 92.0][t % 4] if t % 4 else 95.0) for t in range(31, 3600)]
    assert feed(e, "hot", wobble) == []
    assert states(e.active()) == ["firing"]


def test_a_new_breach_after_resolution_is_a_new_alert():
    e = AlertEngine(RULES)
    first = e.observe(rule("quick"), "cpu", {"host": "a"}, 1, 0)
    assert states(first) == ["firing"]  # no for: fires at once
    assert states(e.observe(rule("quick"), "cpu", {}, 50, 1)) == ["resolved"]
    again = e.observe(rule("quick"), "cpu", {}, 2, 2)
    assert states(again) == ["firing"] and again[0].id != first[0].id
    assert again[0].labels == {}


def test_absence_fires_once_the_data_is_older_than_for():
    e = AlertEngine(RULES)
    gone = rule("gone")
    assert e.observe(gone, "beat", {}, 30.0, 30) == []
    fired = e.observe(gone, "beat", {}, 61.0, 61)
    assert states(fired) == ["firing"] and fired[0].reason == "no data for 61 s"
    assert e.observe(gone, "beat", {}, 62.0, 62) == []
    assert states(e.observe(gone, "beat", {}, 0.0, 63)) == ["resolved"]


def test_rollout_decisions_fire_and_the_next_other_decision_resolves():
    e = AlertEngine(RULES)
    rb = rule("rb")
    assert states(e.observe(rb, "checkout", {}, 1.0, 10)) == ["firing"]
    assert e.observe(rb, "checkout", {}, 1.0, 11) == []  # rolled_back after rollback
    assert states(e.observe(rb, "checkout", {}, 0.0, 50)) == ["resolved"]
    timed = rule("rb-timed")
    assert states(e.observe(timed, "payments", {}, 1.0, 100)) == ["firing"]
    assert e.tick(399) == []
    assert states(e.tick(400)) == ["resolved"]


def test_removing_a_rule_resolves_its_alerts_and_restore_carries_firing_on():
    e = AlertEngine(RULES)
    feed(e, "hot", [(0, 95), (30, 95)])
    firing = e.active()
    assert states(e.replace_rules(AlertRules(), 40)) == ["resolved"]
    assert firing[0].reason == "the rule was removed" and e.active() == []

    restored = Alert.from_json({**firing[0].to_json(), "state": "firing", "resolved_at": None})
    e = AlertEngine(RULES)
    e.restore([restored])
    assert e.active() == [restored]
    assert feed(e, "hot", [(100, 99)]) == []  # still firing: no second notification
    assert feed(e, "hot", [(110, 10), (120, 10)]) == ["resolved"]
