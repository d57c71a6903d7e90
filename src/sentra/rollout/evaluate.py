"""One evaluation of a rollout: ask the sources, score the gates, consult the judge.

Shared by the live controller and ``sentra rollout replay`` (which passes recorded time
instead of the clock). Every source call has a deadline; a source that fails or times out
counts as *no data* for its gate or metric, so the gate's declared no-data policy decides —
a dead Prometheus never passes a canary silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from sentra.analysis.judge import ContinuousData, CountData, JudgeMetric, judge
from sentra.rollout import gates as gate_eval
from sentra.rollout.machine import GateStatus, Observation, RolloutState, judge_alpha
from sentra.rollout.sources.base import (
    Arm,
    Distribution,
    Exemplar,
    SourceError,
    Target,
    TelemetrySource,
    Window,
)
from sentra.rollout.spec import JudgeMetricSpec, RolloutSpec

log = logging.getLogger(__name__)


def target_of(spec: RolloutSpec) -> Target:
    t = spec.target
    versions = {Arm.STABLE: t.stable, Arm.CANARY: t.canary}
    if t.baseline:
        versions[Arm.BASELINE] = t.baseline
    return Target(service=t.service, versions=versions, labels=dict(t.labels))


def reference_arm(spec: RolloutSpec) -> Arm:
    """The canary is compared with the baseline when there is one, else with stable."""
    return Arm.BASELINE if spec.target.baseline else Arm.STABLE


class Evaluator:
    """Evaluates one rollout's gates and judge against its sources."""

    def __init__(
        self,
        spec: RolloutSpec,
        sources: Mapping[str, TelemetrySource],
        *,
        timeout_s: float | None = None,
    ) -> None:
        self.spec = spec
        self.sources = sources
        self.target = target_of(spec)
        self.timeout_s = timeout_s or max(0.5, min(10.0, spec.analysis.interval * 0.8))

    async def _call(self, coro: Any) -> Any:
        return await asyncio.wait_for(coro, self.timeout_s)

    def _since(self, state: RolloutState, now: float) -> float:
        started = state.step_started_at if state.step_started_at is not None else now
        return started + self.spec.analysis.warmup

    async def _gate(self, state: RolloutState, gate: Any, now: float, since: float) -> GateStatus:
        window = Window(max(since, now - self.spec.gate_window(gate)), now)
        arm = Arm(gate.arm)
        version = self.spec.versions.get(arm.value, "") or arm.value
        previous = state.breaches.get(gate.name, 0)
        try:
            scalar = await self._call(
                self.sources[gate.source].scalar(
                    gate.query, arm, self.target, window, samples_query=gate.samples_query
                )
            )
        except (SourceError, TimeoutError, OSError) as exc:
            text = getattr(exc, "message", "") or type(exc).__name__
            if isinstance(exc, TimeoutError):
                text = f"no answer within {self.timeout_s:.1f} s"
            return gate_eval.evaluate(
                gate,
                None,
                0,
                version=version,
                window=window.seconds,
                previous_breaches=previous,
                error=text,
            )
        return gate_eval.evaluate(
            gate,
            scalar.value,
            scalar.samples,
            version=version,
            window=window.seconds,
            previous_breaches=previous,
        )

    async def _metric_data(
        self, m: JudgeMetricSpec, window: Window
    ) -> CountData | ContinuousData | None:
        source = self.sources[m.source]
        ref = reference_arm(self.spec)
        try:
            if m.is_count:
                events, trials = m.count_queries()
                c, b = await asyncio.gather(
                    self._call(source.counts(events, trials, Arm.CANARY, self.target, window)),
                    self._call(source.counts(events, trials, ref, self.target, window)),
                )
                return CountData(
                    canary_events=c.events,
                    canary_trials=c.trials,
                    baseline_events=b.events,
                    baseline_trials=b.trials,
                )
            q = m.distribution_query()
            dc, db = await asyncio.gather(
                self._call(source.distribution(q, Arm.CANARY, self.target, window)),
                self._call(source.distribution(q, ref, self.target, window)),
            )
            return _continuous(dc, db)
        except (SourceError, TimeoutError, OSError) as exc:
            log.info("rollout %s: judge metric %s has no data: %s", self.spec.name, m.name, exc)
            return None

    async def observe(self, state: RolloutState, now: float) -> Observation:
        since = self._since(state, now)
        gate_specs = self.spec.all_gates
        gate_tasks = [self._gate(state, g, now, since) for g in gate_specs]
        judged: dict[str, Any] | None = None
        nodata = False
        from sentra.rollout.machine import Phase  # local: keeps the import list short

        run_judge = self.spec.judge is not None and state.phase is not Phase.PROMOTING
        window = Window(min(since, now), now)
        if run_judge and self.spec.judge is not None:
            metrics = self.spec.judge.metrics
            statuses, data = await asyncio.gather(
                asyncio.gather(*gate_tasks),
                asyncio.gather(*(self._metric_data(m, window) for m in metrics)),
            )
            items = [(_metric(m), d) for m, d in zip(metrics, data, strict=True)]
            ks = self.spec.judge.kayenta
            verdict = judge(
                items,
                alpha=judge_alpha(self.spec),
                mode=self.spec.judge.mode,
                kayenta=_kayenta(ks.pass_score, ks.marginal_score),
            )
            judged = verdict.to_json()
            nodata = any(
                mv.verdict == "nodata" and m.must_have_data
                for mv, m in zip(verdict.metrics, metrics, strict=True)
            )
        else:
            statuses = list(await asyncio.gather(*gate_tasks))
        return Observation(now=now, gates=statuses, judge=judged, judge_nodata=nodata)

    async def exemplars(self, state: RolloutState, now: float, limit: int = 5) -> list[Exemplar]:
        """Example traces of the canary's failing or slowest requests in this step."""
        window = Window(min(self._since(state, now), now - 1.0), now)
        for source in self.sources.values():
            if source.kind not in ("builtin", "tempo"):
                continue
            try:
                found: list[Exemplar] = await self._call(
                    source.exemplars(Arm.CANARY, self.target, window, limit=limit)
                )
            except (SourceError, TimeoutError, OSError):
                continue
            if found:
                return found
        return []


def _continuous(c: Distribution, b: Distribution) -> ContinuousData:
    if c.values or b.values or not (c.edges or b.edges):
        return ContinuousData(canary=c.values, baseline=b.values)
    edges = c.edges or b.edges
    zeros = tuple(0.0 for _ in edges)
    return ContinuousData(
        edges=edges,
        canary_counts=c.counts or zeros,
        baseline_counts=b.counts or zeros,
    )


def _metric(m: JudgeMetricSpec) -> JudgeMetric:
    return JudgeMetric(
        name=m.name,
        kind="count" if m.is_count else "continuous",
        direction=m.direction,
        floor_pct=m.floor_pct,
        critical=m.critical,
        must_have_data=m.must_have_data,
        min_samples=m.min_samples,
        quantiles=m.quantiles,
    )


def _kayenta(pass_score: float, marginal_score: float) -> Any:
    from sentra.analysis.kayenta import KayentaThresholds

    return KayentaThresholds(pass_score=pass_score, marginal_score=marginal_score)


def exemplar_json(e: Exemplar) -> dict[str, Any]:
    return {
        "trace_id": e.trace_id,
        "span_id": e.span_id,
        "name": e.name,
        "duration_ms": e.duration_ms,
        "status": e.status,
        "ts": e.ts,
    }
