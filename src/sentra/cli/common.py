"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sentra.config import Settings, SettingsError, load_settings

console = Console(stderr=True)
out = Console()

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "-d",
        help="Data dir (default: $SENTRA_DATA_DIR or ~/.local/share/sentra).",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="A sentra.toml to read instead of <data dir>/config/sentra.toml.",
        show_default=False,
    ),
]


def settings_or_exit(
    data_dir: Path | None, config: Path | None, overrides: dict[str, dict[str, Any]] | None = None
) -> Settings:
    try:
        return load_settings(data_dir=data_dir, config_file=config, overrides=overrides)
    except SettingsError as exc:
        console.print(f"[red]sentra: {exc}[/red]")
        console.print("See docs/configuration.md or run 'sentra config' for every setting.")
        raise typer.Exit(2) from None


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``sentra up`` and ``sentra agent`` run on (``[server] event_loop``):
    uvloop when asked for or, with ``auto``, when it is installed (it parses and writes
    HTTP in C, which lets one core take more requests: docs/benchmarks.md); else the
    standard loop (None)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            console.print(
                "[red]sentra: [server] event_loop is uvloop, but uvloop is not installed "
                "(pip install uvloop)[/red]"
            )
            raise typer.Exit(2) from None
        return None
    return uvloop.new_event_loop
