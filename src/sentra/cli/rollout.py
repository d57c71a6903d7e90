"""`sentra rollout …`: validate, apply, watch, steer and replay guarded canary rollouts.

Everything except ``validate`` and ``replay`` talks to a running node over its API (see
``client.py`` for ``--url`` / ``--token``). ``replay`` reads the node's store read-only and
runs a spec against recorded telemetry without touching any actuator.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sentra.cli.client import DEFAULT_URL, ApiClient, TokenOpt, UrlOpt, die, exit_on_error
from sentra.cli.common import ConfigOpt, DataDirOpt, console, out, settings_or_exit
from sentra.rollout.spec import RolloutSpec, SpecError, json_schema, load_spec

if TYPE_CHECKING:
    from sentra.config import Settings
    from sentra.rollout.replay import ReplayResult
    from sentra.store.sql import DbTarget

app = typer.Typer(
    help="Guarded canary rollouts: validate and apply specs, watch and steer them, replay "
    "a policy against recorded telemetry.",
    no_args_is_help=True,
)

TERMINAL = ("promoted", "rolled_back", "aborted", "failed")
EXIT_NOT_PROMOTED = 3
NameArg = Annotated[str, typer.Argument(help="The rollout's name (as in its spec).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
_PHASE_STYLE = {
    "promoted": "bold green",
    "progressing": "cyan",
    "promoting": "green",
    "paused": "yellow",
    "rolling_back": "bold red",
    "rolled_back": "red",
    "aborted": "red",
    "failed": "bold red",
}
_STATUS_STYLE = {"pass": "green", "breach": "bold red", "fail": "bold red", "hold": "yellow"}


# ----------------------------------------------------------------------------- helpers


def clock(ts: float | None, now: float | None = None) -> str:
    """Local HH:MM:SS, plus "x s ago" when ``now`` is given."""
    if ts is None:
        return "—"
    text = datetime.fromtimestamp(ts).strftime("%H:%M:%S")
    if now is None:
        return text
    ago = max(0.0, now - ts)
    if ago < 120:
        return f"{text} ({ago:.0f} s ago)"
    if ago < 7200:
        return f"{text} ({ago / 60:.0f} min ago)"
    return f"{text} ({ago / 3600:.0f} h ago)"


def _styled(value: str, styles: dict[str, str]) -> Text:
    return Text(value, style=styles.get(value, ""))


def _read_spec(path: Path) -> tuple[str, RolloutSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        die(f"cannot read {path}: {exc}")
    try:
        return text, load_spec(text)
    except SpecError as exc:
        print_issues(path, [i.to_json() for i in exc.issues])
        die(f"{path}: {len(exc.issues)} problem(s); nothing was applied")


def print_issues(path: Path, issues: list[dict[str, Any]]) -> None:
    """Each problem as ``FILE:LINE:COL: path: message`` (what editors jump to)."""
    for i in issues:
        where = f"{path}:{i.get('line', 0)}:{i.get('column', 0)}:"
        field = f" {i['path']}:" if i.get("path") else ""
        console.print(f"{where}{field} {i.get('message', '')}", highlight=False, soft_wrap=True)


def summary_line(spec: RolloutSpec) -> str:
    steps = " → ".join(str(s.weight) for s in spec.steps)
    gates = spec.all_gates
    parts = [
        f"{len(spec.steps)} steps ({steps} %)",
        f"{len(gates)} gate(s)" + (f" ({', '.join(g.name for g in gates)})" if gates else ""),
    ]
    if spec.judge:
        names = ", ".join(m.name for m in spec.judge.metrics)
        parts.append(f"judge {spec.judge.mode}: {len(spec.judge.metrics)} metric(s) ({names})")
    else:
        parts.append("no judge")
    parts.append(f"actuator {spec.actuator.type}")
    return f"{spec.name}: valid — " + ", ".join(parts)


def step_bar(detail: dict[str, Any]) -> str:
    """``5 → [15] → 30 → 50 → 100`` with the current step in brackets."""
    weights = [int(s["weight"]) for s in detail.get("steps_detail", [])]
    phase = detail.get("phase", "")
    if phase in ("promoting", "promoted"):
        if not weights or weights[-1] != 100:
            weights.append(100)
        current = len(weights) - 1
    else:
        current = int(detail.get("step_index", 0))
    return " → ".join(f"[{w}]" if i == current else str(w) for i, w in enumerate(weights))


def _weights(w: dict[str, int]) -> str:
    text = f"stable {w.get('stable', 0)}% · canary {w.get('canary', 0)}%"
    return text + (f" · baseline {w['baseline']}%" if w.get("baseline") else "")


def _value(v: Any, query: str = "") -> str:
    if v is None:
        return "—"
    from sentra.rollout.gates import fmt

    return fmt(float(v), query)


def gates_table(gates: list[dict[str, Any]]) -> Table:
    table = Table("gate", "value", "bound", "status", "breaches", "why", title="gates")
    for g in gates:
        bound = f"{g.get('op', '')} {_value(g.get('bound'), g.get('query', ''))}"
        table.add_row(
            str(g.get("name")),
            _value(g.get("value"), g.get("query", "")),
            bound,
            _styled(str(g.get("status")), _STATUS_STYLE),
            str(g.get("breaches", 0)),
            str(g.get("explanation", "")),
        )
    return table


def judge_table(judge: dict[str, Any]) -> Table:
    title = (
        f"judge ({judge.get('mode')}, alpha {judge.get('alpha')}): {judge.get('verdict')}, "
        f"score {judge.get('score')}"
    )
    table = Table("metric", "verdict", "canary n", "baseline n", "explanation", title=title)
    for m in judge.get("metrics", []):
        table.add_row(
            str(m.get("name")),
            _styled(str(m.get("verdict")), _STATUS_STYLE),
            str(m.get("canary_n", "")),
            str(m.get("baseline_n", "")),
            str(m.get("explanation", "")),
        )
    return table


def render_detail(detail: dict[str, Any], now: float) -> RenderableType:
    """The status view of one rollout (also the top of ``watch``)."""
    t = detail.get("target", {})
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row(
        "rollout", f"{detail['name']}  ({t.get('service')}: {t.get('stable')} → {t.get('canary')})"
    )
    head.add_row("phase", _styled(str(detail.get("phase")), _PHASE_STYLE))
    head.add_row("steps", step_bar(detail))
    head.add_row("weights", _weights(detail.get("weights", {})))
    head.add_row("message", str(detail.get("message", "")))
    head.add_row("updated", clock(detail.get("updated_at"), now))
    actuator = detail.get("actuator") or {}
    head.add_row("actuator", f"{actuator.get('type', '')} {actuator.get('detail', '')}".strip())
    head.add_row("actions", ", ".join(detail.get("actions", [])) or "none")
    parts: list[RenderableType] = [head]
    if detail.get("gates"):
        parts.append(gates_table(detail["gates"]))
    if detail.get("judge"):
        parts.append(judge_table(detail["judge"]))
    return Group(*parts)


def decision_line(d: dict[str, Any], now: float | None = None) -> Text:
    style = {"rollback": "bold red", "rolled_back": "red", "promoted": "bold green"}.get(
        str(d.get("kind")), ""
    )
    line = Text(f"{clock(d.get('ts'), now)}  ")
    line.append(f"{d.get('kind', ''):<11}", style=style)
    line.append(f"  {d.get('reason', '')}")
    return line


def _client(url: str, token: str | None) -> ApiClient:
    return ApiClient(url, token)


# ----------------------------------------------------------------------------- commands


@app.command()
def validate(
    file: Annotated[
        Path | None, typer.Argument(help="The spec (YAML or JSON).", show_default=False)
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the JSON Schema of a spec instead.")
    ] = False,
) -> None:
    """Check a spec locally (no node needed): every problem with its line and column."""
    if schema:
        out.print_json(json.dumps(json_schema()))
        return
    if file is None:
        die("give a spec file to validate (or --schema for the JSON Schema)", 2)
    _, spec = _read_spec(file)
    out.print(summary_line(spec), highlight=False, soft_wrap=True)


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="The spec (YAML or JSON) to apply.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Apply a spec: the node starts the rollout at its first step at once (operator role)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        die(f"cannot read {file}: {exc}")
    with _client(url, token) as api, exit_on_error(lambda errs: print_issues(file, errs)):
        detail = api.post(
            "/api/v1/rollouts",
            content=text.encode(),
            headers={"Content-Type": "application/yaml"},
        )
    out.print(
        f"applied {detail['name']}: {detail['phase']}, {detail['message']} "
        f"(follow it with 'sentra rollout watch {detail['name']}')",
        highlight=False,
        soft_wrap=True,
    )


@app.command("list")
def list_rollouts(
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Every rollout with its phase, step and weights, newest activity first."""
    with _client(url, token) as api, exit_on_error():
        rollouts = api.get("/api/v1/rollouts")["rollouts"]
    if as_json:
        out.print_json(json.dumps(rollouts))
        return
    now = time.time()
    table = Table("name", "service", "phase", "step", "weights", "updated", "message")
    for r in rollouts:
        t = r.get("target", {})
        table.add_row(
            r["name"],
            f"{t.get('service')} {t.get('stable')}→{t.get('canary')}",
            _styled(r["phase"], _PHASE_STYLE),
            f"{r['step_index'] + 1}/{r['steps']}",
            _weights(r["weights"]),
            clock(r.get("updated_at"), now),
            r.get("message", ""),
        )
    out.print(table if rollouts else "no rollouts yet (apply one with 'sentra rollout apply')")


@app.command()
def status(
    name: NameArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Phase, step progress, weights, gates, the judge's verdict and the allowed actions."""
    with _client(url, token) as api, exit_on_error():
        detail = api.get(f"/api/v1/rollouts/{name}")
    if as_json:
        out.print_json(json.dumps(detail))
        return
    out.print(render_detail(detail, time.time()))


@app.command()
def history(
    name: NameArg,
    limit: Annotated[int, typer.Option(help="How many decisions (newest).", min=1, max=1000)] = 100,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The rollout's decisions, oldest first: time, kind, actor and reason."""
    with _client(url, token) as api, exit_on_error():
        decisions = api.get(f"/api/v1/rollouts/{name}/decisions", limit=limit)["decisions"]
    decisions = list(reversed(decisions))
    if as_json:
        out.print_json(json.dumps(decisions))
        return
    now = time.time()
    table = Table("id", "time", "kind", "actor", "phase", "reason")
    for d in decisions:
        table.add_row(
            str(d["id"]),
            clock(d["ts"], now),
            d["kind"],
            d["actor"],
            f"{d['from_phase']} → {d['to_phase']}",
            d["reason"],
        )
    out.print(table)


def _act(name: str, action: str, url: str, token: str | None, body: dict[str, Any] | None) -> None:
    with _client(url, token) as api, exit_on_error():
        detail = api.post(f"/api/v1/rollouts/{name}/{action}", json=body)
    out.print(
        f"{name}: {detail['phase']} — {detail['message']} ({_weights(detail['weights'])})",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def pause(name: NameArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Pause a progressing rollout: the weights stay, the gates keep guarding it."""
    _act(name, "pause", url, token, None)


@app.command()
def resume(name: NameArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Resume a paused rollout (or approve a manual step that passed)."""
    _act(name, "resume", url, token, None)


@app.command()
def abort(name: NameArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Abort: send all traffic back to the stable version now."""
    _act(name, "abort", url, token, None)


@app.command()
def retry(name: NameArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Start a rolled-back, aborted or failed rollout again from its first step."""
    _act(name, "retry", url, token, None)


@app.command()
def promote(
    name: NameArg,
    full: Annotated[
        bool, typer.Option("--full", help="Skip the remaining steps: all traffic to the canary.")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Promote one step now (or, with --full, all the way)."""
    _act(name, "promote", url, token, {"full": True} if full else None)


@app.command()
def watch(
    name: NameArg,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.", min=0.1)] = 1.0,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Follow a rollout live until it ends (exit 0 promoted, 3 otherwise).

    Refreshes the step, gates and verdicts every --interval seconds and prints each new
    decision as it is taken. Exit code 0 when promoted, 3 when rolled back, aborted or
    failed, 130 on Ctrl-C.
    """
    last_id = 0
    try:
        with _client(url, token) as api, exit_on_error():
            detail = api.get(f"/api/v1/rollouts/{name}")
            with Live(render_detail(detail, time.time()), console=out, auto_refresh=False) as live:
                while True:
                    found = api.get(f"/api/v1/rollouts/{name}/decisions", limit=200)["decisions"]
                    for d in sorted(found, key=lambda d: int(d["id"])):
                        if int(d["id"]) > last_id:
                            live.console.print(decision_line(d), highlight=False)
                            last_id = int(d["id"])
                    live.update(render_detail(detail, time.time()), refresh=True)
                    if detail["phase"] in TERMINAL:
                        break
                    time.sleep(interval)
                    detail = api.get(f"/api/v1/rollouts/{name}")
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    out.print(f"{name} ended: {detail['phase']}", highlight=False)
    raise typer.Exit(0 if detail["phase"] == "promoted" else EXIT_NOT_PROMOTED)


@app.command()
def replay(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec to replay.")],
    start: Annotated[
        str,
        typer.Option(
            "--from", help="Start: unix seconds, ISO-8601 (local time) or relative like -15m."
        ),
    ],
    end: Annotated[str, typer.Option("--to", help="End, like --from (e.g. now).")] = "now",
    step_interval: Annotated[
        float | None,
        typer.Option(
            "--step-interval",
            help="Simulated seconds between evaluations (default: the spec's interval).",
            min=0.01,
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay a spec against recorded telemetry: what would it have decided?

    Runs the whole policy (steps, gates, judge) on a simulated clock from --from to --to over
    the node's store (read-only), without touching any actuator, and prints each decision
    as it would have been taken.
    """
    from sentra.rollout.replay import parse_when

    _, spec = _read_spec(spec_file)
    now = time.time()
    try:
        t1, t2 = parse_when(start, now), parse_when(end, now)
    except ValueError as exc:
        die(str(exc), 2)
    if t2 <= t1:
        die(f"--to ({clock(t2)}) must be after --from ({clock(t1)})", 2)
    from sentra.store.open import DatabaseConfigError, db_target

    settings = settings_or_exit(data_dir, config)
    try:
        target = db_target(settings)
    except DatabaseConfigError as exc:
        die(str(exc))
    if target.path is not None and not target.path.exists():
        die(f"there is no store at {target.path} (is --data-dir right?)")
    result = asyncio.run(_replay(spec, settings, target, t1, t2, step_interval))
    if as_json:
        out.print_json(json.dumps(result.to_json()))
        return
    for d in result.decisions:
        offset = f"+{d.ts - t1:.0f}s"
        out.print(
            f"{clock(d.ts)} {offset:>7}  {d.kind:<11}  {d.reason}", highlight=False, soft_wrap=True
        )
    state = "" if result.finished else f" (not finished at --to: {result.state.message})"
    out.print(f"end phase: {result.phase}{state}", highlight=False, soft_wrap=True)


async def _replay(
    spec: RolloutSpec,
    settings: Settings,
    target: DbTarget,
    t1: float,
    t2: float,
    step: float | None,
) -> ReplayResult:
    from sentra.rollout.replay import replay as run_replay
    from sentra.rollout.sources import build_source
    from sentra.rollout.sources.config import BuiltinSourceConfig
    from sentra.store.open import open_telemetry

    store = open_telemetry(settings, target, readonly=True)
    sources = {"builtin": build_source("builtin", BuiltinSourceConfig(type="builtin"), store=store)}
    try:
        for source_name, cfg in spec.sources.items():
            sources[source_name] = build_source(source_name, cfg, store=store)
        return await run_replay(spec, sources, t1, t2, step=step)
    finally:
        for source in sources.values():
            await source.close()
        store.close()
