"""`sentra`: run the node and manage it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from sentra import __version__
from sentra.cli.agent import agent
from sentra.cli.alert import app as alert_app
from sentra.cli.common import (
    ConfigOpt,
    DataDirOpt,
    console,
    loop_factory,
    out,
    settings_or_exit,
)
from sentra.cli.demo import app as demo_app
from sentra.cli.doctor import doctor
from sentra.cli.report import app as report_app
from sentra.cli.rollout import app as rollout_app
from sentra.cli.token import app as token_app
from sentra.cli.user import app as user_app
from sentra.cli.wg import app as wg_app
from sentra.config import env_name, iter_fields

app = typer.Typer(
    name="sentra",
    help="Sentra: a self-hosted node that observes and acts. Start it with 'sentra up'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(rollout_app, name="rollout")
app.add_typer(demo_app, name="demo")
app.add_typer(wg_app, name="wg")
app.add_typer(alert_app, name="alert")
app.add_typer(report_app, name="report")
app.command("doctor")(doctor)
app.command("agent")(agent)


@app.command()
def up(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default 127.0.0.1).", show_default=False)
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default 5099).", show_default=False)
    ] = None,
    sample_interval: Annotated[
        float | None, typer.Option(help="Seconds between samples (default 1).", show_default=False)
    ] = None,
) -> None:
    """Run the node: sample this host, keep history, serve the API and dashboard.

    Stops cleanly on Ctrl-C or SIGTERM. On the first start it creates the user 'admin'
    and prints a one-time link that signs you in to the dashboard.
    """
    overrides: dict[str, dict[str, Any]] = {}
    if host is not None:
        overrides.setdefault("server", {})["host"] = host
    if port is not None:
        overrides.setdefault("server", {})["port"] = port
    if sample_interval is not None:
        overrides.setdefault("collect", {})["sample_interval"] = sample_interval
    settings = settings_or_exit(data_dir, config, overrides)
    from sentra.node import Node

    async def main() -> None:
        node = Node(
            settings,
            announce=lambda text: console.print(text, highlight=False, soft_wrap=True),
        )
        await node.run()

    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.server.event_loop)) as runner:
            runner.run(main())
    except OSError as exc:
        console.print(f"[red]sentra: cannot start: {exc}[/red]")
        raise typer.Exit(1) from None


@app.command("config")
def show_config(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show every setting with its current value and the environment variable that sets it."""
    settings = settings_or_exit(data_dir, config)
    if as_json:
        out.print_json(settings.model_dump_json())
        return
    table = Table("setting", "value", "environment", "what it does")
    table.add_row("data_dir", str(settings.data_dir), "SENTRA_DATA_DIR", "Root of all data.")
    for group, field, _default, doc in iter_fields():
        value = getattr(getattr(settings, group), field)
        table.add_row(f"{group}.{field}", str(value), env_name(group, field), doc)
    out.print(table)


@app.command()
def version() -> None:
    """Print Sentra's version."""
    out.print(f"sentra {__version__} (python {sys.version.split()[0]})")


@app.command()
def storage(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    clear_cache: Annotated[
        bool, typer.Option("--clear-cache", help="Delete the files under cache/.")
    ] = False,
) -> None:
    """Show where the data lives and how much each part uses (or clear the cache)."""
    from sentra.cli.client import die
    from sentra.state.layout import Layout
    from sentra.store.open import DatabaseConfigError, db_target, open_telemetry

    settings = settings_or_exit(data_dir, config)
    layout = Layout(settings.data_dir)
    if clear_cache:
        files, freed = layout.clear_cache()
        out.print(f"removed {files} files ({freed} bytes) from {layout.cache}")
        return
    info: dict[str, Any] = {
        "data_dir": str(layout.root),
        "db_path": str(settings.db_path),
        "usage": layout.usage() if layout.root.exists() else {},
    }
    try:
        target = db_target(settings)
    except DatabaseConfigError as e:
        die(str(e))
    if target.path is None or target.path.exists():  # PostgreSQL, or a SQLite file
        info["database"] = target.describe()
        store = open_telemetry(settings, target, readonly=True)
        info["history"] = dataclasses.asdict(store.stats())
        store.close()
    out.print_json(json.dumps(info))


if __name__ == "__main__":  # pragma: no cover
    app()
