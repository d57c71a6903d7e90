"""Replay a rollout policy against recorded telemetry: what would it have decided?

``replay`` runs the WHOLE policy — steps, holds, gates, judge, the state machine — on a
simulated clock from ``start`` to ``end``, reading the telemetry a node recorded (any
``TelemetrySource``; the CLI uses the builtin source over a read-only store). No actuator is
touched: when the machine asks for new weights they count as applied at once, as if the
traffic layer were instant. Each simulated tick mirrors one converge of the live controller:
apply pending weights, or evaluate and feed the machine, and when that transition moves
weights apply them in the same tick.

Note: the machine counts at most three analysis intervals of hold time per tick (time a node
was down does not count), so a ``step`` larger than ``3 * analysis.interval`` stretches the
holds in simulated time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sentra.rollout import machine
from sentra.rollout.evaluate import Evaluator
from sentra.rollout.machine import TERMINAL, DecisionDraft, RolloutState, Transition
from sentra.rollout.sources.base import TelemetrySource
from sentra.rollout.spec import RolloutSpec

ACTOR = "replay"
_RELATIVE = re.compile(r"^\s*-\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class ReplayDecision:
    """A decision as the controller would have recorded it, at simulated time ``ts``."""

    ts: float
    kind: str
    from_phase: str
    to_phase: str
    step_index: int
    weights: dict[str, int]
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "kind": self.kind,
            "from_phase": self.from_phase,
            "to_phase": self.to_phase,
            "step_index": self.step_index,
            "weights": dict(self.weights),
            "reason": self.reason,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class ReplayResult:
    start: float
    end: float
    step: float
    state: RolloutState  # where the rollout stood when the replay stopped
    decisions: list[ReplayDecision]
    evaluations: int

    @property
    def phase(self) -> str:
        return self.state.phase.value

    @property
    def finished(self) -> bool:
        """True when the rollout reached a terminal phase before ``end``."""
        return self.state.phase in TERMINAL

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "step": self.step,
            "phase": self.phase,
            "finished": self.finished,
            "message": self.state.message,
            "evaluations": self.evaluations,
            "decisions": [d.to_json() for d in self.decisions],
        }


def _record(out: list[ReplayDecision], t: Transition, now: float) -> None:
    for d in t.decisions:
        out.append(_decision(d, now))


def _decision(d: DecisionDraft, now: float) -> ReplayDecision:
    return ReplayDecision(
        ts=now,
        kind=d.kind,
        from_phase=d.from_phase,
        to_phase=d.to_phase,
        step_index=d.step_index,
        weights=dict(d.weights),
        reason=d.reason,
        evidence=dict(d.evidence),
    )


async def replay(
    spec: RolloutSpec,
    sources: Mapping[str, TelemetrySource],
    start: float,
    end: float,
    *,
    step: float | None = None,
) -> ReplayResult:
    """Run ``spec`` from ``start`` to ``end`` (unix seconds) on recorded telemetry.

    ``sources`` maps every source name the spec uses (``builtin`` included) to a source;
    ``step`` is the simulated time between evaluations (default: the spec's interval).
    """
    if end <= start:
        raise ValueError(f"the replay must end after it starts ({end} <= {start})")
    interval = float(step if step is not None else spec.analysis.interval)
    if interval <= 0:
        raise ValueError("the step interval must be positive")
    # No wall-clock deadline matters here: give slow reads of a big store time to answer.
    evaluator = Evaluator(spec, sources, timeout_s=60.0)
    decisions: list[ReplayDecision] = []
    state = RolloutState(name=spec.name, created_at=start, updated_at=start)
    t = machine.start(state, spec, start)
    _record(decisions, t, start)
    state = t.state
    evaluations = 0
    now = start
    while now <= end and state.phase not in TERMINAL:
        for _ in range(3):  # as the controller: a move that changes weights is applied at once
            if not state.applied:
                t = machine.applied(state, state.weights, now, "replay: weights applied at once")
            else:
                obs = await evaluator.observe(state, now)
                evaluations += 1
                t = machine.tick(state, spec, obs)
            _record(decisions, t, now)
            moved = t.state.applied is False
            was_apply = not state.applied
            state = t.state
            if was_apply or not moved or state.phase in TERMINAL:
                break
        now += interval
    return ReplayResult(start, end, interval, state, decisions, evaluations)


def parse_when(text: str, now: float) -> float:
    """Unix seconds from ``1764615000``, ISO-8601 (``2025-12-01T18:00:00``, local time when
    no zone is given), ``now`` or relative ``-15m`` / ``-2h`` / ``-30s`` / ``-1d``."""
    value = text.strip()
    if value == "now":
        return now
    m = _RELATIVE.match(value)
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give unix seconds, ISO-8601 (2025-12-01T18:00:00) "
            "or a relative time like -15m"
        ) from None
    return when.timestamp()  # a naive datetime is local time
