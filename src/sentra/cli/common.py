"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

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
