"""`sentra report …`: KPI reports as PDF, rendered by the running node.

The node renders the report (it has the store and the rollout records), keeps a copy
under ``<data dir>/reports/`` and the command downloads it to ``--out``. Needs a token of
the operator role (see ``client.py`` for ``--url`` / ``--token``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from sentra.cli.client import DEFAULT_URL, ApiClient, TokenOpt, UrlOpt, die, exit_on_error
from sentra.cli.common import console, out

app = typer.Typer(
    help="KPI reports as PDF: a rollout's gates, verdicts and decisions, or the node's "
    "host metrics over a window.",
    no_args_is_help=True,
)
RENDER_TIMEOUT_S = 120.0  # a report of a long window on a busy node takes a while
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Where to write the PDF (default: the report's name, in this folder).",
        show_default=False,
    ),
]


def _fetch(
    url: str, token: str | None, path: str, params: dict[str, Any], dest: Path | None
) -> None:
    """Ask the node to render, then download the result to ``dest``."""
    started = time.monotonic()
    with ApiClient(url, token, timeout=RENDER_TIMEOUT_S) as api, exit_on_error():
        with console.status("the node is rendering the report…"):
            saved = api.post(path, params=params or None)
        console.print(
            f"rendered {saved['name']} ({saved['size']:,} bytes) in "
            f"{time.monotonic() - started:.1f} s; downloading…",
            highlight=False,
            soft_wrap=True,
        )
        data = api.download(saved["url"])
    target = dest if dest is not None else Path(saved["name"])
    try:
        target.write_bytes(data)
    except OSError as exc:
        die(f"cannot write {target}: {exc}")
    out.print(
        f"wrote {target} ({len(data):,} bytes); the node keeps a copy as {saved['name']}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def rollout(
    name: Annotated[str, typer.Argument(help="The rollout's name.")],
    dest: OutOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """A rollout's report: gates with thresholds, measured values and PASS/FAIL stamps,
    the judge, charts of the gate series and traffic split, the decision timeline."""
    _fetch(url, token, f"/api/v1/reports/rollouts/{name}", {}, dest)


@app.command()
def node(
    start: Annotated[
        str,
        typer.Option(
            "--from", help="Start: unix seconds, ISO-8601 (local time) or relative like -24h."
        ),
    ] = "-24h",
    end: Annotated[str, typer.Option("--to", help="End, like --from (e.g. now).")] = "now",
    dest: OutOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """The node's report over a window: CPU, memory, disks, GPUs (when present), ingest
    counters and alerts."""
    from sentra.rollout.replay import parse_when

    now = time.time()
    try:
        t1, t2 = parse_when(start, now), parse_when(end, now)
    except ValueError as exc:
        die(str(exc), 2)
    if t2 <= t1:
        die("--to must be after --from", 2)
    _fetch(url, token, "/api/v1/reports/node", {"from": t1, "to": t2}, dest)
