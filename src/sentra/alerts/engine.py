"""The alert state machine: one track per rule and series, driven by numbers and a clock.

States: ``inactive`` → ``pending`` (breaching, waiting out ``for``) → ``firing`` →
``resolved`` (clear past ``clear_at`` for ``clear_for``) → back to ``pending`` on the next
breach. A pending track whose value stops breaching falls back to ``inactive`` silently, so
a value that flaps around its threshold never fires unless it breaches for a whole ``for``;
a firing one stays firing until it has been clear (past the hysteresis bound, not merely
below the threshold) for ``clear_for`` in a row, so it cannot resolve and re-fire on every
wobble.

Pure: no I/O, no clock (``now`` is passed in), no asyncio. The service feeds it samples,
rollout decisions and ages (absence rules) and publishes the transitions it returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sentra.alerts.spec import AlertRules, RuleSpec


def breaching(op: str, value: float, bound: float) -> bool:
    if op == ">":
        return value > bound
    if op == ">=":
        return value >= bound
    if op == "<":
        return value < bound
    return value <= bound


def cleared(rule: RuleSpec, value: float) -> bool:
    """Healthy again: past ``clear_at`` when given, otherwise simply not breaching."""
    if rule.clear_at is None:
        return not breaching(rule.op, value, rule.bound)
    if rule.op in (">", ">="):
        return value <= rule.clear_at
    return value >= rule.clear_at


@dataclass
class Alert:
    """One occurrence of a rule on one series, as the API, the stream and notifiers see it."""

    id: str
    rule: str
    kind: str
    severity: str
    series: str  # the series key, or the rollout's name
    labels: dict[str, str]
    state: str
    value: float | None
    threshold: float
    summary: str
    started_at: float  # when it began breaching (pending)
    updated_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    acked_by: str = ""
    reason: str = ""
    notifications: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        return cls(**known)


def alert_id(rule: str, key: str, started_at: float) -> str:
    return hashlib.sha256(f"{rule}\0{key}\0{started_at:.3f}".encode()).hexdigest()[:16]


@dataclass
class _Track:
    alert: Alert
    clear_since: float | None = None
    last_value: float | None = None


class AlertEngine:
    """Tracks of every (rule, series); each call returns the alerts whose state changed."""

    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self._tracks: dict[tuple[str, str], _Track] = {}

    # Inputs ------------------------------------------------------------------------

    def observe(
        self, rule: RuleSpec, key: str, labels: Mapping[str, str], value: float, now: float
    ) -> list[Alert]:
        """A new value of ``key`` for ``rule``: move its track; the changed alert, if any."""
        track = self._tracks.get((rule.name, key))
        if track is None:
            if not breaching(rule.op, value, rule.bound):
                return []  # healthy and not tracked: nothing to remember
            track = self._tracks[(rule.name, key)] = self._begin(rule, key, labels, value, now)
            if rule.pending_for > 0:
                return [track.alert]
        return self._step(rule, track, value, now)

    def tick(self, now: float) -> list[Alert]:
        """Re-evaluate every track with its last value (``for`` and ``clear_for`` elapse)."""
        out: list[Alert] = []
        for (name, _key), track in list(self._tracks.items()):
            rule = self.rules.rule(name)
            if rule is None or track.last_value is None:
                continue
            if rule.kind == "rollout" and rule.resolve_after is not None:
                fired = track.alert.fired_at
                if fired is not None and now - fired >= rule.resolve_after:
                    out.extend(self._resolve(track, now, "resolve_after elapsed"))
                continue
            out.extend(self._step(rule, track, track.last_value, now))
        return out

    def replace_rules(self, rules: AlertRules, now: float) -> list[Alert]:
        """New rules: tracks of removed rules resolve (if firing) and are forgotten."""
        self.rules = rules
        out: list[Alert] = []
        for (name, key), track in list(self._tracks.items()):
            if rules.rule(name) is None:
                if track.alert.state == "firing":
                    out.extend(self._resolve(track, now, "the rule was removed"))
                self._tracks.pop((name, key), None)
        return out

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Firing alerts of the previous run carry on (no second "firing" notification)."""
        for alert in alerts:
            rule = self.rules.rule(alert.rule)
            if alert.state == "firing" and rule is not None:
                self._tracks[(alert.rule, alert.series)] = _Track(alert, None, alert.value)

    # Views -------------------------------------------------------------------------

    def active(self) -> list[Alert]:
        """Pending and firing alerts, newest first."""
        live = [t.alert for t in self._tracks.values() if t.alert.state in ("pending", "firing")]
        return sorted(live, key=lambda a: a.updated_at, reverse=True)

    def find(self, alert_id_: str) -> Alert | None:
        return next((t.alert for t in self._tracks.values() if t.alert.id == alert_id_), None)

    # The machine -------------------------------------------------------------------

    def _begin(
        self, rule: RuleSpec, key: str, labels: Mapping[str, str], value: float, now: float
    ) -> _Track:
        """A new occurrence, pending from ``now`` (its id is new too)."""
        alert = Alert(
            id=alert_id(rule.name, key, now),
            rule=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            series=key,
            labels=dict(labels),
            state="pending",
            value=value,
            threshold=rule.bound,
            summary=rule.summary,
            started_at=now,
            updated_at=now,
            reason=_why(rule, value),
        )
        return _Track(alert, None, value)

    def _step(self, rule: RuleSpec, track: _Track, value: float, now: float) -> list[Alert]:
        track.last_value = value
        a = track.alert
        a.value = value
        if a.state == "pending":
            if not breaching(rule.op, value, rule.bound):
                a.state, a.updated_at, a.reason = "inactive", now, "no longer breaching"
                self._forget(a)
                return [a]
            if now - a.started_at >= rule.pending_for:
                a.state, a.fired_at, a.updated_at = "firing", now, now
                a.reason = _why(rule, value)
                track.clear_since = None
                return [a]
            return []
        # firing
        if not cleared(rule, value):
            track.clear_since = None
            return []
        if track.clear_since is None:
            track.clear_since = now
        if now - track.clear_since >= rule.clear_for:
            return self._resolve(track, now, _why(rule, value, healthy=True))
        return []

    def _forget(self, alert: Alert) -> None:
        self._tracks.pop((alert.rule, alert.series), None)

    def _resolve(self, track: _Track, now: float, reason: str) -> list[Alert]:
        a = track.alert
        a.state, a.resolved_at, a.updated_at, a.reason = "resolved", now, now, reason
        self._forget(a)
        return [a]


def _why(rule: RuleSpec, value: float, *, healthy: bool = False) -> str:
    if rule.kind == "absence":
        return "data again" if healthy else f"no data for {value:.0f} s"
    if rule.kind == "rollout":
        return "a later decision" if healthy else "matching decision"
    name = rule.series if rule.kind != "anomaly" else f"anomaly score of {rule.series}"
    if healthy:
        bound = rule.clear_at if rule.clear_at is not None else rule.bound
        return f"{name} = {value:g}, back past {bound:g}"
    return f"{name} = {value:g} {rule.op} {rule.bound:g}"
