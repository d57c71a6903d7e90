"""`sentra alert …`: validate an alert rules file, apply it to a running node, list alerts.

``validate`` needs no node; ``apply`` and ``list`` talk to one over its API (``--url``,
``--token``, see ``client.py``). Problems are printed as ``FILE:LINE:COL: path: message``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sentra.alerts.spec import AlertRules, json_schema, load_rules
from sentra.cli.client import DEFAULT_URL, ApiClient, TokenOpt, UrlOpt, die, exit_on_error
from sentra.cli.common import out
from sentra.cli.rollout import clock, print_issues
from sentra.rollout.spec import SpecError

app = typer.Typer(
    help="Alert rules: validate a rules file, apply it to a node, list alerts.",
    no_args_is_help=True,
)
FileArg = Annotated[Path, typer.Argument(help="The rules file (YAML or JSON).")]
_STATE_STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "green"}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        die(f"cannot read {path}: {exc}")


def summary_line(path: Path, rules: AlertRules) -> str:
    kinds: dict[str, int] = {}
    for r in rules.rules:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    parts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no rules"
    notifiers = ", ".join(f"{n} ({s.type})" for n, s in rules.notifiers.items()) or "none"
    return f"{path}: valid — {len(rules.rules)} rule(s) ({parts}); notifiers: {notifiers}"


@app.command()
def validate(
    file: Annotated[
        Path | None, typer.Argument(help="The rules file (YAML or JSON).", show_default=False)
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the JSON Schema of a rules file instead.")
    ] = False,
) -> None:
    """Check a rules file locally (no node needed): every problem with its line and column."""
    if schema:
        out.print_json(json.dumps(json_schema()))
        return
    if file is None:
        die("give a rules file to validate (or --schema for the JSON Schema)", 2)
    try:
        rules = load_rules(_read(file))
    except SpecError as exc:
        print_issues(file, [i.to_json() for i in exc.issues])
        die(f"{file}: {len(exc.issues)} problem(s)")
    out.print(summary_line(file, rules), highlight=False, soft_wrap=True)


@app.command()
def apply(file: FileArg, url: UrlOpt = DEFAULT_URL, token: TokenOpt = None) -> None:
    """Replace the node's alert rules with this file; used at once (admin role)."""
    text = _read(file)
    with ApiClient(url, token) as api, exit_on_error(lambda errs: print_issues(file, errs)):
        data = api.request(
            "PUT",
            "/api/v1/alerts/rules",
            content=text.encode(),
            headers={"Content-Type": "application/yaml"},
        )
    out.print(
        f"applied {len(data['rules'])} rule(s) and {len(data['notifiers'])} notifier(s) to {url}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("list")
def list_alerts(
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    state: Annotated[
        str | None, typer.Option(help="pending, firing or resolved.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Active and recent alerts, newest change first."""
    params = {"state": state} if state else {}
    with ApiClient(url, token) as api, exit_on_error():
        data = api.get("/api/v1/alerts", **params)
    if as_json:
        out.print_json(json.dumps(data))
        return
    if data.get("error"):
        out.print(f"[yellow]rules not in use: {data['error']}[/yellow]", soft_wrap=True)
    now = time.time()
    table = Table("state", "rule", "severity", "series", "value", "since", "why")
    for a in data["alerts"]:
        style = _STATE_STYLE.get(a["state"], "")
        value = "—" if a.get("value") is None else f"{a['value']:g}"
        since = a.get("resolved_at") or a.get("fired_at") or a.get("started_at")
        table.add_row(
            f"[{style}]{a['state']}[/{style}]" if style else a["state"],
            a["rule"],
            a["severity"],
            a["series"],
            value,
            clock(since, now),
            a.get("reason", ""),
        )
    out.print(table)
