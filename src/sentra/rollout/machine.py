"""The rollout state machine: pure, level-triggered, persisted by the controller.

::

    Pending → Progressing(step k) ⇄ Paused → Promoting → Promoted
                   │                  │          │
                   └──────────────────┴──────────┴→ RollingBack → RolledBack | Aborted
    (an actuator or hook that cannot work) → Failed          Retry: terminal → Progressing(0)

Every function takes the current :class:`RolloutState`, the spec and plain inputs (the time
included: there is no clock here) and returns a :class:`Transition`: the new state and the
decisions to record. The controller persists both in one transaction *before* it acts, so
a node killed at any point resumes in the recorded phase: it re-applies the recorded
weights (idempotent, never a second step) and never forgets a rollback under way.

Weights move in two halves: the machine sets the *desired* weights and ``applied=False``;
the controller makes the actuator route them and reports back with :func:`applied`. A step's
hold clock starts only once its weights are confirmed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sentra.rollout.actuators.base import Weights
from sentra.rollout.spec import RolloutSpec, StepSpec


class Phase(StrEnum):
    PENDING = "pending"
    PROGRESSING = "progressing"
    PAUSED = "paused"
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    FAILED = "failed"


TERMINAL = frozenset({Phase.PROMOTED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED})
ACTIVE = frozenset(set(Phase) - TERMINAL)
ACTIONS = ("pause", "resume", "promote", "abort", "retry")


class CommandRefused(ValueError):
    """A manual action that does not apply in the rollout's phase (the message says why)."""


@dataclass(frozen=True)
class GateStatus:
    """One threshold gate at one evaluation, its no-data policy already applied.

    status: ``pass``, ``breach``, ``hold`` (no data, policy hold: the step waits),
    ``inconclusive`` (no data, policy inconclusive: a person decides at the step's end).
    ``nodata`` tells whether the status came from the no-data policy.
    """

    name: str
    status: str
    value: float | None
    samples: int
    op: str
    bound: float | None
    no_data: str
    nodata: bool
    source: str
    query: str
    explanation: str
    breaches: int = 0
    kind: str = "threshold"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Observation:
    """What one evaluation saw: gate statuses and the judge's verdict (JSON, or None)."""

    now: float
    gates: Sequence[GateStatus] = ()
    judge: Mapping[str, Any] | None = None
    judge_nodata: bool = False  # a must-have-data metric had no data
    exemplars: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class DecisionDraft:
    kind: str
    from_phase: str
    to_phase: str
    step_index: int
    weights: dict[str, int]
    actor: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RolloutState:
    name: str
    phase: Phase = Phase.PENDING
    step_index: int = 0
    weights: Weights = field(default_factory=lambda: Weights(stable=100, canary=0))
    applied: bool = True  # the actuator routes ``weights``
    step_started_at: float | None = None  # when this step's weights were confirmed
    hold_elapsed: float = 0.0  # seconds of healthy telemetry counted toward the hold
    last_tick: float | None = None
    breaches: Mapping[str, int] = field(default_factory=dict)
    awaiting_approval: bool = False  # paused at a manual step that has passed
    aborting: bool = False  # rolling back because a person aborted
    actuator_errors: int = 0
    message: str = "waiting to start"
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["phase"] = self.phase.value
        data["weights"] = self.weights.as_dict()
        data["breaches"] = dict(self.breaches)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RolloutState:
        values = dict(data)
        values["phase"] = Phase(values["phase"])
        values["weights"] = Weights.from_mapping(values["weights"])
        values["breaches"] = dict(values.get("breaches", {}))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class Transition:
    state: RolloutState
    decisions: tuple[DecisionDraft, ...] = ()

    @property
    def changed_weights(self) -> bool:
        return not self.state.applied


# Plan helpers ---------------------------------------------------------------------------


def analysis_steps(spec: RolloutSpec) -> list[StepSpec]:
    """Steps below 100%: the canary is compared there. A 100% step is the promotion."""
    return [s for s in spec.steps if s.weight < 100]


def promotion_hold(spec: RolloutSpec) -> float:
    last = spec.steps[-1]
    return last.hold if last.weight == 100 else 0.0


def step_weights(spec: RolloutSpec, index: int) -> Weights:
    steps = analysis_steps(spec)
    if not steps:
        return Weights(stable=0, canary=100)
    w = steps[min(index, len(steps) - 1)].weight
    return Weights.for_canary(w, baseline=w if spec.target.baseline else 0)


def judge_alpha(spec: RolloutSpec) -> float:
    """Alpha of one step's judge: the rollout's alpha split over its steps (union bound)."""
    alpha = spec.judge.alpha if spec.judge else 0.01
    return alpha / max(1, len(analysis_steps(spec)))


FULL = Weights(stable=0, canary=100)
STABLE = Weights(stable=100, canary=0)


def _decision(
    old: RolloutState,
    new: RolloutState,
    kind: str,
    actor: str,
    reason: str,
    evidence: dict[str, Any] | None = None,
) -> DecisionDraft:
    return DecisionDraft(
        kind=kind,
        from_phase=old.phase.value,
        to_phase=new.phase.value,
        step_index=new.step_index,
        weights=new.weights.as_dict(),
        actor=actor,
        reason=reason,
        evidence=evidence or {},
    )


def _move(
    state: RolloutState, now: float, phase: Phase, weights: Weights, **changes: Any
) -> RolloutState:
    """A new phase with new desired weights (applied only if they are already routed)."""
    same = weights == state.weights and state.applied
    return dataclasses.replace(
        state,
        phase=phase,
        weights=weights,
        applied=same,
        step_started_at=now if same else None,
        hold_elapsed=0.0,
        last_tick=now,
        breaches={},
        awaiting_approval=False,
        actuator_errors=0,
        updated_at=now,
        **changes,
    )


def _evidence(obs: Observation) -> dict[str, Any]:
    return {
        "gates": [g.to_json() for g in obs.gates],
        "judge": dict(obs.judge) if obs.judge else None,
        "exemplars": [dict(e) for e in obs.exemplars],
    }


# Transitions ------------------------------------------------------------------------------


def start(state: RolloutState, spec: RolloutSpec, now: float) -> Transition:
    if state.phase is not Phase.PENDING:
        return Transition(state)
    w = step_weights(spec, 0)
    new = _move(state, now, Phase.PROGRESSING, w, step_index=0, message=_step_text(spec, 0))
    if not analysis_steps(spec):
        new = _move(state, now, Phase.PROMOTING, FULL, message="promoting")
    reason = f"started: {spec.target.canary} gets {w.canary}% of {spec.target.service}'s traffic"
    return Transition(new, (_decision(state, new, "start", "controller", reason),))


def _step_text(spec: RolloutSpec, index: int) -> str:
    steps = analysis_steps(spec)
    return f"step {index + 1} of {len(steps)} ({steps[index].weight}%)"


def applied(state: RolloutState, weights: Weights, now: float, detail: str = "") -> Transition:
    """The actuator routes ``weights`` now."""
    if state.applied or weights != state.weights:
        return Transition(state)
    new = dataclasses.replace(
        state,
        applied=True,
        step_started_at=now,
        hold_elapsed=0.0,
        last_tick=now,
        actuator_errors=0,
        updated_at=now,
    )
    if state.phase is Phase.ROLLING_BACK:
        final = Phase.ABORTED if state.aborting else Phase.ROLLED_BACK
        new = dataclasses.replace(new, phase=final, message=f"{final.value}: all traffic on stable")
        kind = "aborted" if state.aborting else "rolled_back"
        reason = f"traffic is back on the stable version ({weights})" + (
            f": {detail}" if detail else ""
        )
        return Transition(new, (_decision(state, new, kind, "controller", reason),))
    return Transition(new)


def actuator_failed(
    state: RolloutState, message: str, *, retryable: bool, now: float
) -> Transition:
    if retryable:
        new = dataclasses.replace(
            state,
            actuator_errors=state.actuator_errors + 1,
            message=f"the actuator failed, retrying: {message}",
            updated_at=now,
        )
        if state.actuator_errors == 0:  # record the first failure of a run, not every retry
            return Transition(
                new, (_decision(state, new, "note", "controller", f"actuator: {message}"),)
            )
        return Transition(new)
    return fail(state, f"the actuator cannot apply {state.weights}: {message}", now)


def fail(state: RolloutState, reason: str, now: float) -> Transition:
    new = dataclasses.replace(state, phase=Phase.FAILED, message=reason, updated_at=now)
    return Transition(new, (_decision(state, new, "fail", "controller", reason),))


def _rollback(
    state: RolloutState, now: float, reason: str, actor: str, obs: Observation | None, kind: str
) -> Transition:
    new = _move(
        state,
        now,
        Phase.ROLLING_BACK,
        STABLE,
        step_index=state.step_index,
        aborting=kind == "abort",
        message=f"rolling back: {reason}",
    )
    evidence = _evidence(obs) if obs else {}
    return Transition(new, (_decision(state, new, kind, actor, reason, evidence),))


def rollback(state: RolloutState, now: float, reason: str, actor: str = "controller") -> Transition:
    """Roll back for a reason found outside the telemetry (a failed pre-promote hook)."""
    return _rollback(state, now, reason, actor, None, "rollback")


def _advance(
    state: RolloutState, spec: RolloutSpec, now: float, actor: str, reason: str, evidence: Any
) -> Transition:
    steps = analysis_steps(spec)
    nxt = state.step_index + 1
    if nxt >= len(steps):
        new = _move(state, now, Phase.PROMOTING, FULL, step_index=state.step_index)
        new = dataclasses.replace(new, message="promoting: all traffic to the canary")
        return Transition(new, (_decision(state, new, "promote", actor, reason, evidence),))
    w = step_weights(spec, nxt)
    new = _move(state, now, Phase.PROGRESSING, w, step_index=nxt, message=_step_text(spec, nxt))
    return Transition(new, (_decision(state, new, "step", actor, reason, evidence),))


def tick(state: RolloutState, spec: RolloutSpec, obs: Observation) -> Transition:
    """One evaluation: count breaches, roll back, hold, or complete the step."""
    now = obs.now
    if state.phase is Phase.PENDING:
        return start(state, spec, now)
    if state.phase not in (Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING) or not state.applied:
        return Transition(state)
    started = state.step_started_at if state.step_started_at is not None else now
    dt = 0.0 if state.last_tick is None else max(0.0, now - state.last_tick)
    dt = min(dt, 3 * spec.analysis.interval)  # time the node was down does not count
    base = dataclasses.replace(state, last_tick=now, updated_at=now)
    if now - started < spec.analysis.warmup:
        left = spec.analysis.warmup - (now - started)
        return Transition(dataclasses.replace(base, message=f"warming up ({left:.0f} s left)"))

    breaches = dict(state.breaches)
    for g in obs.gates:
        if g.status == "breach":
            breaches[g.name] = breaches.get(g.name, 0) + 1
        elif g.status == "pass":
            breaches[g.name] = 0
    base = dataclasses.replace(base, breaches=breaches)
    need = spec.breaches_to_rollback
    tripped = [g for g in obs.gates if breaches.get(g.name, 0) >= need]
    if tripped:
        words = "; ".join(f"{g.explanation}" for g in tripped)
        times = (
            "once" if need == 1 else ("twice in a row" if need == 2 else f"{need} times in a row")
        )
        names = ", ".join(g.name for g in tripped)
        reason = f"{names} breached {times}: {words}"
        return _rollback(base, now, reason, "controller", obs, "rollback")
    verdict = (obs.judge or {}).get("verdict")
    if verdict == "fail" and state.phase is not Phase.PROMOTING:
        reason = "the judge found a regression: " + str((obs.judge or {}).get("explanation", ""))
        return _rollback(base, now, reason, "controller", obs, "rollback")
    if state.phase is Phase.PAUSED:
        return Transition(base)

    if state.phase is Phase.PROMOTING and promotion_hold(spec) <= 0:
        return _promoted(state, base, spec)
    holding = [g for g in obs.gates if g.status == "hold"]
    judge_hold = obs.judge_nodata and spec.judge is not None and spec.judge.no_data == "hold"
    breaching = [g for g in obs.gates if g.status == "breach"]
    if holding or judge_hold:
        what = ", ".join(g.name for g in holding) or "the judge's must-have-data metrics"
        return Transition(dataclasses.replace(base, message=f"waiting for data: {what}"))
    hold_elapsed = state.hold_elapsed + dt
    base = dataclasses.replace(base, hold_elapsed=hold_elapsed)
    if state.phase is Phase.PROMOTING:
        if hold_elapsed < promotion_hold(spec) or breaching:
            left = promotion_hold(spec) - hold_elapsed
            return Transition(
                dataclasses.replace(base, message=f"verifying at 100% ({left:.0f} s)")
            )
        return _promoted(state, base, spec)

    step = analysis_steps(spec)[state.step_index]
    if spec.judge_only:  # Argo/Flagger move the traffic and ask for verdicts; keep judging
        return Transition(dataclasses.replace(base, message="judging for an external deployer"))
    if hold_elapsed < step.hold or breaching:
        left = max(0.0, step.hold - hold_elapsed)
        why = f", {len(breaching)} gate(s) breaching" if breaching else ""
        text = f"{_step_text(spec, state.step_index)}: holding {left:.0f} s more{why}"
        return Transition(dataclasses.replace(base, message=text))

    evidence = _evidence(obs)
    unsure = [g for g in obs.gates if g.status == "inconclusive"]
    if unsure:
        names = ", ".join(g.name for g in unsure)
        return _pause(base, now, f"{names} had no data at the end of the step: a person decides")
    if obs.judge_nodata and spec.judge is not None:
        policy = spec.judge.no_data
        if policy == "fail":
            return _rollback(base, now, "the judge had no data", "controller", obs, "rollback")
        if policy == "inconclusive":
            return _pause(base, now, "the judge had no data at the end of the step")
    if verdict == "inconclusive" and spec.analysis.on_inconclusive == "pause":
        return _pause(base, now, "the judge found no evidence either way: a person decides")
    if step.manual:
        new = dataclasses.replace(
            base,
            phase=Phase.PAUSED,
            awaiting_approval=True,
            message=f"{_step_text(spec, state.step_index)} passed: waiting for approval",
        )
        reason = "the step passed; it needs a person's approval (promote) to go on"
        return Transition(new, (_decision(state, new, "hold", "controller", reason, evidence),))
    reason = _pass_reason(spec, step, obs)
    return _advance(base, spec, now, "controller", reason, evidence)


def _promoted(state: RolloutState, base: RolloutState, spec: RolloutSpec) -> Transition:
    new = dataclasses.replace(base, phase=Phase.PROMOTED, message="promoted")
    reason = f"{spec.target.canary} now serves all of {spec.target.service}'s traffic"
    return Transition(new, (_decision(state, new, "promoted", "controller", reason),))


def _pass_reason(spec: RolloutSpec, step: StepSpec, obs: Observation) -> str:
    parts = [f"{step.weight}% held for {step.hold:.0f} s"]
    if obs.gates:
        parts.append(f"{len(obs.gates)} gate(s) within bounds")
    if obs.judge:
        parts.append(f"judge: {obs.judge.get('verdict')}")
    return "healthy: " + ", ".join(parts)


def _pause(state: RolloutState, now: float, reason: str, actor: str = "controller") -> Transition:
    new = dataclasses.replace(
        state, phase=Phase.PAUSED, message=f"paused: {reason}", updated_at=now
    )
    return Transition(new, (_decision(state, new, "pause", actor, reason),))


def command(
    state: RolloutState,
    spec: RolloutSpec,
    action: str,
    *,
    actor: str,
    now: float,
    full: bool = False,
) -> Transition:
    """A person's action. Raises CommandRefused when it does not apply now."""
    phase = state.phase
    if action == "pause":
        if phase is not Phase.PROGRESSING:
            raise CommandRefused(f"only a progressing rollout can be paused; this one is {phase}")
        return _pause(state, now, f"paused by {actor}", actor)
    if action == "resume":
        if phase is not Phase.PAUSED:
            raise CommandRefused(f"only a paused rollout can be resumed; this one is {phase}")
        if state.awaiting_approval:
            return _advance(state, spec, now, actor, f"approved by {actor}", {})
        new = dataclasses.replace(
            state,
            phase=Phase.PROGRESSING,
            last_tick=now,
            message=_step_text(spec, state.step_index),
            updated_at=now,
        )
        return Transition(new, (_decision(state, new, "resume", actor, f"resumed by {actor}"),))
    if action == "promote":
        if phase not in (Phase.PROGRESSING, Phase.PAUSED):
            raise CommandRefused(f"only a progressing or paused rollout can be promoted ({phase})")
        if full:
            new = _move(state, now, Phase.PROMOTING, FULL, message="promoting: all traffic")
            reason = f"promoted fully by {actor}"
            return Transition(new, (_decision(state, new, "promote", actor, reason),))
        return _advance(state, spec, now, actor, f"promoted one step by {actor}", {})
    if action == "abort":
        if phase in TERMINAL or phase is Phase.ROLLING_BACK:
            raise CommandRefused(f"the rollout is {phase}: there is nothing to abort")
        return _rollback(state, now, f"aborted by {actor}", actor, None, "abort")
    if action == "retry":
        if phase not in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
            raise CommandRefused(
                f"only a rolled-back, aborted or failed rollout can be retried; this one is {phase}"
            )
        fresh = dataclasses.replace(state, aborting=False)
        w = step_weights(spec, 0)
        new = _move(fresh, now, Phase.PROGRESSING, w, step_index=0, message=_step_text(spec, 0))
        return Transition(new, (_decision(state, new, "retry", actor, f"retried by {actor}"),))
    raise CommandRefused(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")


def verdict(state: RolloutState, spec: RolloutSpec, obs: Observation | None) -> tuple[str, str]:
    """pass / fail / inconclusive for deployers that ask (Argo Rollouts, Flagger), and why."""
    if state.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
        return "fail", state.message
    if state.phase is Phase.PROMOTED:
        return "pass", "promoted"
    if obs is None:
        return "inconclusive", "not evaluated yet"
    judged = (obs.judge or {}).get("verdict")
    if judged == "fail":
        return "fail", str((obs.judge or {}).get("explanation", "the judge found a regression"))
    breaching = [g for g in obs.gates if g.status == "breach"]
    if breaching:
        return "inconclusive", "; ".join(g.explanation for g in breaching)
    if any(g.status != "pass" for g in obs.gates) or judged == "inconclusive":
        return "inconclusive", "not enough evidence yet"
    return "pass", "every gate within bounds" + (", judge: pass" if judged else "")


def allowed_actions(state: RolloutState) -> list[str]:
    phase = state.phase
    out = []
    if phase is Phase.PROGRESSING:
        out.append("pause")
    if phase is Phase.PAUSED:
        out.append("resume")
    if phase in (Phase.PROGRESSING, Phase.PAUSED):
        out.append("promote")
    if phase in ACTIVE and phase is not Phase.ROLLING_BACK:
        out.append("abort")
    if phase in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
        out.append("retry")
    return out
