"""The rollout controller: a level-triggered loop around the pure state machine.

Every ``tick_s`` it looks for rollouts that are due. For each (one at a time per rollout,
under its lock) it converges: start a pending rollout; make the actuator route the recorded
weights when they are not confirmed yet; otherwise evaluate gates and judge and feed the
machine. Each transition is persisted — state and decisions in one transaction — *before*
the controller acts on it, then published on the bus (``rollout.decision.<name>``,
``rollout.state.<name>``) and sent to the spec's notifiers. After a restart the loop
finds the persisted phase and weights and simply carries on: re-applying weights is
idempotent, so no step is applied twice and a rollback under way is finished.

Several nodes on one PostgreSQL database: each rollout is driven by the node holding its
lease (``rollout/lease.py``). The others discover rollouts created elsewhere, keep their
copies current for the API, and try for the lease each second, so when the leader dies
the next node carries the rollout on from the persisted state. Every save is conditional
on the row being as this node last saw it (``expect_updated_at``), so a node that lost its
lease without noticing cannot take a second step.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sentra.bus.base import Bus
from sentra.events import RolloutEvent, Sample
from sentra.ingest.pipeline import Ingestor, Job
from sentra.rollout import machine
from sentra.rollout.actuators import build_actuator
from sentra.rollout.actuators.base import Actuator, ActuatorError
from sentra.rollout.evaluate import Evaluator, exemplar_json
from sentra.rollout.hooks import Notifier, run_hooks
from sentra.rollout.lease import Leases, SoloLeases
from sentra.rollout.machine import TERMINAL, Observation, Phase, RolloutState, Transition
from sentra.rollout.sources import build_source
from sentra.rollout.sources.base import TelemetrySource
from sentra.rollout.sources.config import BuiltinSourceConfig
from sentra.rollout.spec import RolloutSpec, spec_from_json
from sentra.store.sql import DatabaseUnavailable
from sentra.store.sqlite import SqliteStore
from sentra.store.sqlite.rollouts import RolloutStore, StaleRollout, StoredDecision, StoredRollout

log = logging.getLogger(__name__)

GATE_SERIES = "sentra.rollout.gate.value"
WEIGHT_SERIES = "sentra.rollout.weight"
_EXEMPLAR_KINDS = frozenset({"rollback", "step", "promote", "hold", "pause"})


class UnknownRollout(LookupError):
    pass


@dataclass
class _Runtime:
    spec: RolloutSpec
    spec_yaml: str
    state: RolloutState
    evaluator: Evaluator
    actuator: Actuator
    sources: dict[str, TelemetrySource]
    notifiers: list[Notifier]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    due: float = 0.0
    last_obs: Observation | None = None
    apply_detail: str = ""
    pre_promote_done: bool = False
    stored_at: float | None = None  # the row's updated_at as this node last saw it


class RolloutController:
    def __init__(
        self,
        rollouts: RolloutStore,
        *,
        bus: Bus | None,
        telemetry: SqliteStore | None = None,
        ingestor: Ingestor | None = None,
        clock: Callable[[], float] = time.time,
        tick_s: float = 0.2,
        actuator_factory: Callable[..., Actuator] = build_actuator,
        source_factory: Callable[..., TelemetrySource] = build_source,
        leases: Leases | None = None,
        discover_s: float = 1.0,
    ) -> None:
        self.rollouts = rollouts
        self.bus = bus
        self.telemetry = telemetry
        self.ingestor = ingestor
        self.clock = clock
        self.tick_s = tick_s
        self._actuator_factory = actuator_factory
        self._source_factory = source_factory
        self.leases: Leases = leases or SoloLeases()
        self.discover_s = discover_s
        self._runtimes: dict[str, _Runtime] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.evaluations = 0
        self.decisions_total = 0

    # Building --------------------------------------------------------------------------

    def _build(self, spec: RolloutSpec, spec_yaml: str, state: RolloutState) -> _Runtime:
        sources: dict[str, TelemetrySource] = {
            "builtin": self._source_factory(
                "builtin", BuiltinSourceConfig(type="builtin"), store=self.telemetry
            )
        }
        for name, config in spec.sources.items():
            sources[name] = self._source_factory(name, config, store=self.telemetry)
        actuator = self._actuator_factory(spec.actuator, name=spec.name)
        notifiers = [Notifier(n) for n in spec.notifications]
        return _Runtime(
            spec=spec,
            spec_yaml=spec_yaml,
            state=state,
            evaluator=Evaluator(spec, sources),
            actuator=actuator,
            sources=sources,
            notifiers=notifiers,
        )

    def load(self) -> int:
        """Pick up every active rollout persisted by an earlier run; return how many."""
        for stored in self.rollouts.all():
            self._pick_up(stored)
        return len(self._runtimes)

    def _pick_up(self, stored: StoredRollout) -> None:
        state = RolloutState.from_json(stored.state)
        if state.phase in TERMINAL or stored.name in self._runtimes:
            return
        try:
            spec = spec_from_json(stored.spec_json)
            rt = self._build(spec, stored.spec_yaml, state)
        except (ValueError, OSError) as exc:
            log.error("rollout %s cannot be resumed: %s", stored.name, exc)
            return
        rt.stored_at = stored.updated_at
        self._runtimes[stored.name] = rt

    async def _discover(self) -> None:
        """Shared database: take in rollouts created on other nodes, refresh the copies this
        node does not lead, and wake a led one whose row another node changed (a command)."""
        terminal = {p.value for p in TERMINAL}
        for name, (updated_at, phase) in (await asyncio.to_thread(self.rollouts.versions)).items():
            rt = self._runtimes.get(name)
            if rt is None and phase in terminal:
                continue  # finished elsewhere: nothing to pick up
            if rt is not None and (updated_at == rt.stored_at or rt.lock.locked()):
                continue  # as this node last saw it (or being moved here right now)
            stored = await asyncio.to_thread(self.rollouts.get, name)
            if stored is None:
                continue
            if rt is None:
                self._pick_up(stored)
            else:
                self._refresh(rt, stored)
                rt.due = 0.0
        for name, rt in list(self._runtimes.items()):
            if rt.state.phase in TERMINAL and not self.leases.holds(name):
                self._runtimes.pop(name, None)
                await self._close_runtime(rt)

    @staticmethod
    def _refresh(rt: _Runtime, stored: StoredRollout) -> None:
        rt.state = RolloutState.from_json(stored.state)
        rt.stored_at = stored.updated_at

    async def _reload(self, rt: _Runtime) -> None:
        stored = await asyncio.to_thread(self.rollouts.get, rt.spec.name)
        if stored is not None:
            self._refresh(rt, stored)

    # The loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Start each due rollout's evaluation as its own task, so a slow source or actuator
        of one rollout never delays another's rollback."""
        busy: dict[str, asyncio.Task[None]] = {}
        next_discover = 0.0
        try:
            while True:
                now = self.clock()
                if self.leases.shared and now >= next_discover:
                    next_discover = now + self.discover_s
                    await self._shared_housekeeping()
                for name, rt in list(self._runtimes.items()):
                    task = busy.get(name)
                    if rt.due <= now and (task is None or task.done()):
                        if not await self._lead(rt):
                            rt.due = now + self.discover_s
                            continue
                        busy[name] = asyncio.get_running_loop().create_task(
                            self._converge(rt), name=f"rollout-{name}"
                        )
                for name in [n for n, t in busy.items() if t.done()]:
                    busy.pop(name)
                await asyncio.sleep(self.tick_s)
        finally:
            for task in busy.values():
                task.cancel()
            await asyncio.gather(*busy.values(), return_exceptions=True)

    async def _shared_housekeeping(self) -> None:
        try:
            await self.leases.check()
            await self._discover()
        except DatabaseUnavailable as exc:  # the database is away: try again next second
            log.warning("rollouts: cannot read the shared rollout table: %s", exc)
        except Exception:
            log.exception("rollouts: cannot read the shared rollout table")

    async def _lead(self, rt: _Runtime) -> bool:
        """Hold the rollout's lease; on winning it, start from the state in the database
        (the previous leader may have moved it since this node last looked)."""
        name = rt.spec.name
        if self.leases.holds(name):
            return True
        if rt.state.phase in TERMINAL or not await self.leases.acquire(name):
            return False
        try:
            await self._reload(rt)
        except Exception:
            log.exception("rollout %s: cannot load its state", name)
            await self.leases.release(name)
            return False
        rt.pre_promote_done = False
        return True

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for rt in self._runtimes.values():
            await self._close_runtime(rt)
        self._runtimes.clear()
        await self.leases.close()

    async def _close_runtime(self, rt: _Runtime) -> None:
        with contextlib.suppress(Exception):
            await rt.actuator.close()
        for source in rt.sources.values():
            with contextlib.suppress(Exception):
                await source.close()
        for notifier in rt.notifiers:
            with contextlib.suppress(Exception):
                await notifier.close()

    async def _converge(self, rt: _Runtime) -> None:
        try:
            async with rt.lock:
                for _ in range(3):  # a transition that moves weights is applied at once
                    if not await self._once(rt):
                        break
        except StaleRollout as exc:
            log.info("rollout %s: %s; carrying on from the stored state", rt.spec.name, exc)
            await self._reload(rt)
        except DatabaseUnavailable as exc:  # not a bug: say it in a line, retry next tick
            log.warning("rollout %s: %s", rt.spec.name, exc)
        except Exception:  # a bug must not stop every other rollout: log, retry next tick
            log.exception("rollout %s: evaluation failed", rt.spec.name)
        rt.due = self.clock() + rt.spec.analysis.interval
        if rt.state.phase in TERMINAL:
            self._runtimes.pop(rt.spec.name, None)
            await self._close_runtime(rt)
            await self.leases.release(rt.spec.name)

    async def _once(self, rt: _Runtime) -> bool:
        """One converging move; True when another should follow right away."""
        st, spec, now = rt.state, rt.spec, self.clock()
        if st.phase in TERMINAL:
            return False
        if st.phase is Phase.PENDING:
            outcome = await run_hooks(spec.hooks.pre_rollout, "pre_rollout", self._context(rt))
            if outcome.aborted:
                await self._commit(rt, machine.fail(st, f"pre-rollout hook: {outcome.reason}", now))
                return False
            await self._commit(rt, machine.start(st, spec, now))
            return True
        if not st.applied:
            if st.phase is Phase.PROMOTING and not rt.pre_promote_done:
                outcome = await run_hooks(spec.hooks.pre_promote, "pre_promote", self._context(rt))
                if outcome.aborted:
                    reason = f"the pre-promote hook failed: {outcome.reason}"
                    await self._commit(rt, machine.rollback(st, now, reason))
                    return True
                rt.pre_promote_done = True
            try:
                result = await rt.actuator.apply(st.weights)
            except ActuatorError as exc:
                await self._commit(
                    rt, machine.actuator_failed(st, exc.message, retryable=exc.retryable, now=now)
                )
                return False
            except Exception as exc:  # an actuator bug: keep the rollout, retry later
                log.exception("rollout %s: actuator %s failed", spec.name, rt.actuator.kind)
                await self._commit(
                    rt,
                    machine.actuator_failed(st, f"internal error: {exc}", retryable=True, now=now),
                )
                return False
            rt.apply_detail = result.detail
            self._record_weights(rt, now)
            t = machine.applied(st, st.weights, self.clock(), result.detail)
            await self._commit(rt, t)
            await self._after(rt, st, t)
            return False
        obs = await rt.evaluator.observe(st, now)
        self.evaluations += 1
        rt.last_obs = obs
        self._record_gates(rt, obs)
        t = machine.tick(st, spec, obs)
        if any(d.kind in _EXEMPLAR_KINDS for d in t.decisions):
            t = await self._with_exemplars(rt, st, t, now)
        await self._commit(rt, t)
        return not t.state.applied

    async def _after(self, rt: _Runtime, before: RolloutState, t: Transition) -> None:
        phase = t.state.phase
        if before.phase is Phase.ROLLING_BACK and phase in (Phase.ROLLED_BACK, Phase.ABORTED):
            await run_hooks(rt.spec.hooks.on_rollback, "on_rollback", self._context(rt))
        if phase is Phase.PROMOTED:
            await run_hooks(rt.spec.hooks.post_promote, "post_promote", self._context(rt))

    async def _with_exemplars(
        self, rt: _Runtime, st: RolloutState, t: Transition, now: float
    ) -> Transition:
        found = [exemplar_json(e) for e in await rt.evaluator.exemplars(st, now)]
        if not found:
            return t
        drafts = tuple(
            dataclasses.replace(d, evidence={**d.evidence, "exemplars": found})
            if d.kind in _EXEMPLAR_KINDS
            else d
            for d in t.decisions
        )
        return Transition(t.state, drafts)

    def _context(self, rt: _Runtime) -> dict[str, Any]:
        st = rt.state
        return {
            "rollout": rt.spec.name,
            "service": rt.spec.target.service,
            "stable": rt.spec.target.stable,
            "canary": rt.spec.target.canary,
            "baseline": rt.spec.target.baseline,
            "phase": st.phase.value,
            "step": st.step_index,
            "weights": st.weights.as_dict(),
        }

    async def _commit(self, rt: _Runtime, t: Transition) -> list[StoredDecision]:
        """Persist the transition, then tell the bus and the notifiers."""
        now = self.clock()
        drafts = [dataclasses.asdict(d) for d in t.decisions]
        stored = await asyncio.to_thread(
            self.rollouts.save,
            rt.spec.name,
            t.state.to_json(),
            drafts,
            now,
            expect_updated_at=rt.stored_at if self.leases.shared else None,
        )
        rt.state = t.state
        rt.stored_at = now
        self.decisions_total += len(stored)
        for d in stored:
            log.info("rollout %s: %s (%s): %s", d.rollout, d.kind, d.actor, d.reason)
            self._publish(f"rollout.decision.{d.rollout}", d.rollout, d.to_json())
            for notifier in rt.notifiers:
                self._spawn(notifier.send(d.to_json()))
        if stored or t.state.phase is not Phase.PENDING:
            self._publish(f"rollout.state.{rt.spec.name}", rt.spec.name, self.summary_of(rt))
        return stored

    def _publish(self, topic: str, name: str, data: dict[str, Any]) -> None:
        if self.bus is not None:
            self.bus.publish(topic, RolloutEvent(source=name, ts=self.clock(), data=data))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _submit(self, samples: list[Sample]) -> None:
        if self.ingestor is None or not samples:
            return
        fut = self.ingestor.submit(Job("rollout", samples=samples), force=True)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())

    def _record_gates(self, rt: _Runtime, obs: Observation) -> None:
        name = rt.spec.name
        self._submit(
            [
                Sample(GATE_SERIES, {"rollout": name, "gate": g.name}, obs.now, g.value)
                for g in obs.gates
                if g.value is not None
            ]
        )

    def _record_weights(self, rt: _Runtime, now: float) -> None:
        w = rt.state.weights.as_dict()
        self._submit(
            [
                Sample(WEIGHT_SERIES, {"rollout": rt.spec.name, "arm": arm}, now, float(v))
                for arm, v in w.items()
            ]
        )

    # What the API calls --------------------------------------------------------------------

    async def create(self, spec: RolloutSpec, spec_yaml: str, *, actor: str) -> dict[str, Any]:
        now = self.clock()
        state = RolloutState(name=spec.name, created_at=now, updated_at=now)
        active = self._runtimes.get(spec.name)
        if active is not None and active.state.phase not in TERMINAL:
            from sentra.store.sqlite.rollouts import RolloutExists

            raise RolloutExists(
                f"rollout {spec.name!r} is {active.state.phase}: abort it or wait for it to "
                "finish before applying a new spec under the same name"
            )
        rt = self._build(spec, spec_yaml, state)
        try:
            await asyncio.to_thread(
                self.rollouts.create,
                spec.name,
                spec.model_dump_json(by_alias=True),
                spec_yaml,
                state.to_json(),
                now,
                active_phases=[p.value for p in machine.ACTIVE],
            )
        except BaseException:
            await self._close_runtime(rt)
            raise
        rt.stored_at = now
        self._runtimes[spec.name] = rt
        async with rt.lock:
            outcome = await run_hooks(spec.hooks.pre_rollout, "pre_rollout", self._context(rt))
            if outcome.aborted:
                t = machine.fail(state, f"pre-rollout hook: {outcome.reason}", now)
            else:
                t = machine.start(state, spec, now)
                t = Transition(
                    t.state, tuple(dataclasses.replace(d, actor=actor) for d in t.decisions)
                )
            await self._commit(rt, t)
        rt.due = 0.0
        return self.detail(spec.name)

    async def command(
        self, name: str, action: str, *, actor: str, full: bool = False
    ) -> dict[str, Any]:
        rt = self._runtimes.get(name)
        if rt is None:
            stored = self.rollouts.get(name)
            if stored is None:
                raise UnknownRollout(name)
            state = RolloutState.from_json(stored.state)
            rt = self._build(spec_from_json(stored.spec_json), stored.spec_yaml, state)
            if action != "retry":  # finished rollouts only take retry
                machine.command(state, rt.spec, action, actor=actor, now=self.clock())
            rt.stored_at = stored.updated_at
            self._runtimes[name] = rt
        async with rt.lock:
            if self.leases.shared:  # another node may lead it: act on the stored state
                await self._reload(rt)
            t = machine.command(rt.state, rt.spec, action, actor=actor, now=self.clock(), full=full)
            if action == "retry":
                rt.pre_promote_done = False
            await self._commit(rt, t)
        rt.due = 0.0  # act on it now (e.g. roll back at once)
        return self.detail(name)

    async def delete(self, name: str) -> bool:
        rt = self._runtimes.get(name)
        if rt is not None and rt.state.phase not in TERMINAL:
            raise machine.CommandRefused(
                f"rollout {name!r} is {rt.state.phase}: abort it before deleting it"
            )
        if rt is not None:
            self._runtimes.pop(name, None)
            await self._close_runtime(rt)
        return await asyncio.to_thread(self.rollouts.delete, name)

    def _state_and_spec(self, name: str) -> tuple[RolloutState, RolloutSpec, str, _Runtime | None]:
        rt = self._runtimes.get(name)
        if rt is not None:
            return rt.state, rt.spec, rt.spec_yaml, rt
        stored = self.rollouts.get(name)
        if stored is None:
            raise UnknownRollout(name)
        return (
            RolloutState.from_json(stored.state),
            spec_from_json(stored.spec_json),
            stored.spec_yaml,
            None,
        )

    def summary_of(self, rt: _Runtime) -> dict[str, Any]:
        return _summary(rt.state, rt.spec)

    def all(self) -> list[dict[str, Any]]:
        out = []
        for stored in self.rollouts.all():
            rt = self._runtimes.get(stored.name)
            if rt is not None:
                out.append(_summary(rt.state, rt.spec))
            else:
                out.append(
                    _summary(RolloutState.from_json(stored.state), spec_from_json(stored.spec_json))
                )
        return out

    def detail(self, name: str) -> dict[str, Any]:
        state, spec, spec_yaml, rt = self._state_and_spec(name)
        data = _summary(state, spec)
        obs = rt.last_obs if rt else None
        gates: list[dict[str, Any]] = []
        judged: dict[str, Any] | None = None
        if obs is not None:
            gates = [{**g.to_json(), "breaches": state.breaches.get(g.name, 0)} for g in obs.gates]
            judged = dict(obs.judge) if obs.judge else None
        else:  # not evaluated in this run (finished, or just restarted): the last evidence
            for d in self.rollouts.decisions(name, limit=20):
                if d.evidence.get("gates") or d.evidence.get("judge"):
                    gates, judged = list(d.evidence.get("gates") or []), d.evidence.get("judge")
                    break
        data.update(
            steps_detail=[
                {"weight": s.weight, "hold_s": s.hold, "manual": s.manual} for s in spec.steps
            ],
            step_started_at=state.step_started_at,
            hold_elapsed=state.hold_elapsed,
            gates=gates,
            judge=judged,
            actuator={"type": spec.actuator.type, "detail": rt.apply_detail if rt else ""},
            spec=spec.to_json(),
            spec_yaml=spec_yaml,
            actions=machine.allowed_actions(state),
            # Several nodes on one database: whether this node is the one acting on it.
            leader=self.leases.holds(name) and state.phase not in TERMINAL,
        )
        return data

    def verdict(self, name: str) -> dict[str, Any]:
        state, spec, _, rt = self._state_and_spec(name)
        obs = rt.last_obs if rt else None
        verdict, reason = machine.verdict(state, spec, obs)
        return {
            "rollout": name,
            "verdict": verdict,
            "reason": reason,
            "phase": state.phase.value,
            "ts": obs.now if obs else None,
            "gates": [g.to_json() for g in obs.gates] if obs else [],
            "judge": dict(obs.judge) if obs and obs.judge else None,
        }

    def weights(self, name: str) -> dict[str, Any]:
        state, spec, _, _ = self._state_and_spec(name)
        return {
            "rollout": name,
            "weights": state.weights.as_dict(),
            "phase": state.phase.value,
            "applied": state.applied,
            "versions": spec.versions,
        }

    def decisions(
        self, name: str, *, limit: int = 100, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        self._state_and_spec(name)  # 404 for an unknown rollout
        return [
            d.to_json() for d in self.rollouts.decisions(name, limit=limit, before_id=before_id)
        ]

    def active_count(self) -> int:
        return len(self._runtimes)

    def states(self) -> Mapping[str, RolloutState]:
        return {name: rt.state for name, rt in self._runtimes.items()}


def _summary(state: RolloutState, spec: RolloutSpec) -> dict[str, Any]:
    t = spec.target
    return {
        "name": spec.name,
        "phase": state.phase.value,
        "step_index": state.step_index,
        "steps": len(machine.analysis_steps(spec)),
        "step_weights": [s.weight for s in spec.steps],
        "weights": state.weights.as_dict(),
        "applied": state.applied,
        "target": {
            "service": t.service,
            "stable": t.stable,
            "canary": t.canary,
            "baseline": t.baseline,
        },
        "message": state.message,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
