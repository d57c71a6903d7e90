"""Rollout specs: policy as code, validated before anything moves.

A spec is YAML (or the same shape as JSON). ``load_spec`` parses it, validates every field
and reports *every* problem with its line and column (``SpecError``); nothing is applied
from an invalid spec. The seed's SLO block is accepted as written::

    slo:
      latency_p95_ms: 120
      error_rate_pct: 0.5
      consumer_lag_max: 5000
      staleness_ms: 300
    rollout_gates:
      consecutive_breaches_to_rollback: 2
      evaluation_window_sec: 60

and expands into threshold gates on the builtin source (``RolloutSpec.all_gates``).

Pure: parsing text and validating it; no files, no network, no clock.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sentra.rollout.actuators.config import ActuatorConfig, HookConfig, NotifyConfig, PullConfig
from sentra.rollout.sources.config import SourceConfig

NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
NoData = Literal["pass", "fail", "inconclusive", "hold"]


def parse_duration(value: Any) -> Any:
    """``30s``, ``2m``, ``500ms``, ``1h`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like '30s', '2m'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
        raise ValueError(f"{value!r} is not a duration: write e.g. '30s', '2m', '500ms' or 45")
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TargetSpec(_Model):
    service: str = Field(
        min_length=1, description="Service name in the telemetry (OTLP service.name)."
    )
    stable: str = Field(min_length=1, description="Version label of the running version.")
    canary: str = Field(min_length=1, description="Version label of the new version.")
    baseline: str = Field(
        "",
        description="Version label of a fresh copy of the stable version, given the same "
        "weight as the canary (Kayenta's design); empty: compare the canary with stable.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels every metric query is narrowed by."
    )

    @model_validator(mode="after")
    def _distinct(self) -> TargetSpec:
        if self.stable == self.canary:
            raise ValueError(f"stable and canary are both {self.stable!r}: nothing to roll out")
        return self


class StepSpec(_Model):
    weight: int = Field(ge=1, le=100, description="Percent of traffic sent to the canary.")
    hold: Seconds = Field(
        30.0, description="Minimum time at this weight with healthy telemetry (e.g. '30s')."
    )
    manual: bool = Field(False, description="After this step passes, wait for a person to promote.")


def _default_steps() -> list[StepSpec]:
    return [StepSpec(weight=w) for w in (5, 15, 30, 50, 100)]


class AnalysisSpec(_Model):
    interval: Seconds = Field(2.0, description="Seconds between two evaluations.")
    window: Seconds = Field(60.0, description="Threshold gates look at the last window.")
    warmup: Seconds = Field(
        0.0, description="After each weight change, telemetry younger than this is ignored."
    )
    consecutive_breaches_to_rollback: int = Field(
        2, ge=1, le=100, description="A threshold gate must breach this often in a row."
    )
    on_inconclusive: Literal["promote", "pause"] = Field(
        "promote",
        description="At the end of a step whose judge found no evidence either way.",
    )

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if not 0.2 <= v <= 600:
            raise ValueError("interval must be between 0.2 s and 10 min")
        return v


GATE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,63}$")


def _gate_name(value: str) -> str:
    if not GATE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid gate name: use letters, digits, '_', '.', ':' and '-'"
        )
    return value


class GateSpec(_Model):
    name: Annotated[str, AfterValidator(_gate_name)] = Field(
        description="Name shown in decisions and the UI (letters, digits, _ . : -)."
    )
    source: str = Field("builtin", description="A name under `sources:`, or builtin.")
    query: str = Field(min_length=1, description="The source's query (see docs/sources.md).")
    max: float | None = Field(None, description="Breach when the value is above this.")
    min: float | None = Field(None, description="Breach when the value is below this.")
    arm: Literal["canary", "baseline", "stable"] = Field(
        "canary", description="Whose telemetry the query reads."
    )
    window: Seconds | None = Field(None, description="Overrides analysis.window for this gate.")
    no_data: NoData = Field(
        "hold",
        description="When there is no data (or fewer than min_samples): pass, fail (counts "
        "as a breach), inconclusive (a person decides at the step's end) or hold (wait).",
    )
    min_samples: int = Field(0, ge=0, description="Fewer samples than this count as no data.")
    samples_query: str | None = Field(
        None, description="Prometheus/Loki: a query whose value is reported as the samples."
    )

    @model_validator(mode="after")
    def _bound(self) -> GateSpec:
        if self.max is None and self.min is None:
            raise ValueError(f"gate {self.name!r} needs a bound: max, min or both")
        return self


class JudgeMetricSpec(_Model):
    name: str = Field(min_length=1, description="Name shown in verdicts.")
    kind: Literal["errors", "latency", "count", "continuous"] = Field(
        description="errors/count: events per trial; latency/continuous: a distribution."
    )
    source: str = Field("builtin", description="A name under `sources:`, or builtin.")
    query: str = Field("", description="Distribution query (default for latency: 'latency').")
    events: str = Field("", description="Count metrics: the events query (default error_spans).")
    trials: str = Field("", description="Count metrics: the trials query (default spans).")
    direction: Literal["increase", "decrease", "either"] = Field(
        "increase", description="Which change is harmful."
    )
    floor_pct: float = Field(
        0.0, ge=0, le=1000, description="Ignore relative changes smaller than this (percent)."
    )
    critical: bool = Field(False, description="A fail on this metric rolls back at once.")
    must_have_data: bool = Field(False, description="No data here never passes the judge.")
    min_samples: int = Field(0, ge=0, description="Per arm, before this metric is judged.")
    quantiles: tuple[float, ...] = Field(
        (0.5, 0.95), description="Continuous metrics: quantiles whose ratio is the effect."
    )

    @property
    def is_count(self) -> bool:
        return self.kind in ("errors", "count")

    def count_queries(self) -> tuple[str, str]:
        return (self.events or "error_spans", self.trials or "spans")

    def distribution_query(self) -> str:
        return self.query or "latency"


class KayentaSpec(_Model):
    pass_score: float = Field(75, ge=0, le=100, description="Score at or above: pass.")
    marginal_score: float = Field(50, ge=0, le=100, description="Score below: fail.")


class JudgeSpec(_Model):
    mode: Literal["sequential", "kayenta"] = Field(
        "sequential", description="sequential (anytime-valid) or kayenta (Mann-Whitney)."
    )
    alpha: float = Field(
        0.01, gt=0, lt=0.5, description="False-rollback probability of the whole rollout."
    )
    no_data: NoData = Field(
        "hold", description="When a must-have-data metric has no data at the step's end."
    )
    metrics: list[JudgeMetricSpec] = Field(min_length=1, description="Metrics to judge.")
    kayenta: KayentaSpec = Field(default_factory=KayentaSpec)


class SloSpec(_Model):
    """The seed's SLO block, as written."""

    latency_p95_ms: float | None = Field(None, gt=0, description="Canary p95 latency bound.")
    error_rate_pct: float | None = Field(None, ge=0, le=100, description="Error rate bound.")
    consumer_lag_max: float | None = Field(None, ge=0, description="Consumer lag bound.")
    staleness_ms: float | None = Field(None, ge=0, description="Staleness bound (ms).")


class RolloutGatesSpec(_Model):
    consecutive_breaches_to_rollback: int | None = Field(None, ge=1, le=100)
    evaluation_window_sec: Seconds | None = None


class HooksSpec(_Model):
    pre_rollout: list[HookConfig] = Field(default_factory=list)
    pre_promote: list[HookConfig] = Field(default_factory=list)
    post_promote: list[HookConfig] = Field(default_factory=list)
    on_rollback: list[HookConfig] = Field(default_factory=list)


# The seed's SLO names and the builtin queries they stand for.
SLO_QUERIES: dict[str, str] = {
    "latency_p95_ms": "latency_p95_ms",
    "error_rate_pct": "error_rate_pct",
    "consumer_lag_max": "metric:consumer_lag:max",
    "staleness_ms": "metric:staleness_ms:max",
}
# Latency and errors need traffic: wait for it. Lag and staleness are exported only by some
# services: without them a person decides (never a silent pass).
SLO_NO_DATA: dict[str, NoData] = {
    "latency_p95_ms": "hold",
    "error_rate_pct": "hold",
    "consumer_lag_max": "inconclusive",
    "staleness_ms": "inconclusive",
}

# A p95 or an error rate of a handful of requests is noise: below this many requests in the
# window the seed's latency and error gates count as no data (their policy: hold).
SLO_MIN_SAMPLES: dict[str, int] = {"latency_p95_ms": 100, "error_rate_pct": 200}


class RolloutSpec(_Model):
    api_version: Literal["sentra/v1"] = Field("sentra/v1", alias="apiVersion")
    kind: Literal["Rollout"] = "Rollout"
    name: str = Field(description="Unique name: lowercase letters, digits, '.', '-', '_'.")
    description: str = ""
    target: TargetSpec
    steps: list[StepSpec] = Field(default_factory=_default_steps, min_length=1)
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)
    gates: list[GateSpec] = Field(default_factory=list)
    judge: JudgeSpec | None = None
    slo: SloSpec | None = None
    rollout_gates: RolloutGatesSpec | None = None
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    actuator: ActuatorConfig = Field(default_factory=lambda: PullConfig(type="pull"))
    hooks: HooksSpec = Field(default_factory=HooksSpec)
    notifications: list[NotifyConfig] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError(
                f"{v!r} is not a valid name: use lowercase letters, digits, '.', '-' and '_' "
                "(at most 63), starting and ending with a letter or digit"
            )
        return v

    # Derived views ------------------------------------------------------------------

    @property
    def judge_only(self) -> bool:
        """Another deployer moves the traffic; Sentra judges until promoted or aborted."""
        return self.actuator.type == "external"

    @property
    def breaches_to_rollback(self) -> int:
        rg = self.rollout_gates
        if rg and rg.consecutive_breaches_to_rollback is not None:
            return rg.consecutive_breaches_to_rollback
        return self.analysis.consecutive_breaches_to_rollback

    @property
    def window(self) -> float:
        rg = self.rollout_gates
        if rg and rg.evaluation_window_sec is not None:
            return rg.evaluation_window_sec
        return self.analysis.window

    @property
    def all_gates(self) -> list[GateSpec]:
        """Declared gates plus those the seed's ``slo`` block stands for."""
        gates = list(self.gates)
        if self.slo:
            for key, query in SLO_QUERIES.items():
                bound = getattr(self.slo, key)
                if bound is not None:
                    gates.append(
                        GateSpec(
                            name=key,
                            query=query,
                            max=bound,
                            no_data=SLO_NO_DATA[key],
                            min_samples=SLO_MIN_SAMPLES.get(key, 0),
                        )
                    )
        return gates

    @property
    def versions(self) -> dict[str, str]:
        t = self.target
        return {"stable": t.stable, "canary": t.canary, "baseline": t.baseline}

    def gate_window(self, gate: GateSpec) -> float:
        return gate.window if gate.window is not None else self.window

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_defaults=False)
        return data


def cross_check(spec: RolloutSpec) -> list[tuple[tuple[int | str, ...], str]]:
    """Rules that span fields, each with the path of the field it is about."""
    problems: list[tuple[tuple[int | str, ...], str]] = []
    weights = [s.weight for s in spec.steps]
    for i, (a, b) in enumerate(itertools.pairwise(weights), start=1):
        if b <= a:
            problems.append(
                (("steps", i, "weight"), f"step weights must increase: {b} follows {a}")
            )
    if spec.target.baseline:
        for i, w in enumerate(weights):
            if w > 50 and not (i == len(weights) - 1 and w == 100):
                problems.append(
                    (
                        ("steps", i, "weight"),
                        "with a baseline the canary and the baseline get the same weight, so a "
                        f"step can give the canary at most 50% (or 100% at the end), not {w}%",
                    )
                )
    known = {"builtin", *spec.sources}
    for i, gate in enumerate(spec.gates):
        if gate.source not in known:
            problems.append(
                (
                    ("gates", i, "source"),
                    f"gate {gate.name!r} uses source {gate.source!r}: {_hint(known)}",
                )
            )
    names = [g.name for g in spec.all_gates]
    for i, gate in enumerate(spec.gates):
        if names.count(gate.name) > 1:
            problems.append(
                (("gates", i, "name"), f"gate names must be unique: {gate.name!r} is used twice")
            )
    if spec.judge:
        for i, m in enumerate(spec.judge.metrics):
            if m.source not in known:
                problems.append(
                    (
                        ("judge", "metrics", i, "source"),
                        f"judge metric {m.name!r} uses source {m.source!r}: {_hint(known)}",
                    )
                )
    if not spec.all_gates and not spec.judge:
        problems.append(
            ((), "a rollout needs something to judge it by: gates, a judge, or the slo block")
        )
    return problems


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a rollout spec (docs/rollout.schema.json)."""
    schema = RolloutSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Sentra rollout spec"
    return schema


def _hint(known: set[str]) -> str:
    return "define it under sources: (known: " + ", ".join(sorted(known)) + ")"


# Parsing with positions -------------------------------------------------------------------


@dataclass(frozen=True)
class SpecIssue:
    line: int  # 1-based; 0 when unknown
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.line else "spec"
        path = f" ({self.path})" if self.path else ""
        return f"{where}{path}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


class SpecError(ValueError):
    """A spec that cannot be used; ``issues`` lists every problem with its position."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))


class _Positions:
    """Where each path of a composed YAML document starts (1-based line and column)."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def find(self, loc: tuple[int | str, ...]) -> tuple[int, int]:
        node = self.root
        best = (1, 1) if node is None else _mark(node)
        for part in loc:
            child = _child(node, part) if node is not None else None
            if child is None:
                break
            node = child
            best = _mark(node)
        return best


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _child(node: yaml.Node, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                found: yaml.Node = value
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return item
    return None


def _duplicates(node: yaml.Node | None, path: str = "") -> Iterator[SpecIssue]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            sub = f"{path}.{name}" if path else name
            if name in seen:
                line, col = _mark(key)
                yield SpecIssue(line, col, sub, f"{name!r} is given twice")
            seen.add(name)
            yield from _duplicates(value, sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicates(item, f"{path}.{i}" if path else str(i))


def _message(err: Any) -> str:
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if err.get("type") == "extra_forbidden":
        return "unknown field (see docs/rollouts.md for the fields a spec may have)"
    if err.get("type") == "missing":
        return "this field is required"
    if err.get("type") == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown type {ctx.get('tag')!r}: use one of {ctx.get('expected_tags')}"
    if err.get("type") == "union_tag_not_found":
        return "this needs a type: field (see docs/rollouts.md)"
    return msg


def _loc(err: Any) -> tuple[int | str, ...]:
    # Discriminated unions add the tag ('haproxy') to the location: drop it.
    out: list[int | str] = []
    for part in err.get("loc", ()):
        if isinstance(part, str) and ("[" in part or part.endswith(")")):
            continue
        out.append(part)
    return tuple(out)


def validate(data: Any, positions: _Positions | None = None) -> RolloutSpec:
    """Validate already-parsed data; raise SpecError listing every problem."""
    if not isinstance(data, dict):
        raise SpecError([SpecIssue(1, 1, "", "a rollout spec is a mapping of fields")])
    try:
        spec = RolloutSpec.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = _loc(err)
            line, col = positions.find(loc) if positions else (0, 0)
            issues.append(SpecIssue(line, col, ".".join(str(p) for p in loc), _message(err)))
        raise SpecError(issues) from None
    problems = cross_check(spec)
    if problems:
        issues = []
        for loc, message in problems:
            line, col = positions.find(loc) if positions else (0, 0)
            issues.append(SpecIssue(line, col, ".".join(str(p) for p in loc), message))
        raise SpecError(issues)
    return spec


def parse_yaml(text: str) -> tuple[Any, _Positions]:
    """Parse policy YAML (JSON is YAML too): the data and where each of its nodes is, for
    line/column errors. Raises SpecError on bad YAML or a key given twice. Shared by the
    rollout specs and the alert rules (``sentra.alerts.spec``)."""
    try:
        root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "not valid YAML"
        raise SpecError([SpecIssue(line, col, "", f"not valid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(0, 0, "", f"not valid YAML: {exc}")]) from None
    dups = list(_duplicates(root))
    if dups:
        raise SpecError(dups)
    return data, _Positions(root)


def load_spec(text: str) -> RolloutSpec:
    """Parse a spec from YAML (JSON is YAML too) and validate it."""
    return validate(*parse_yaml(text))


def spec_from_json(text: str) -> RolloutSpec:
    """A spec stored as JSON by the node (already validated once)."""
    return RolloutSpec.model_validate(json.loads(text))
