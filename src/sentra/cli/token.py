"""`sentra token …`: API tokens for the dashboard, scripts and Prometheus."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from sentra.auth.tokens import ROLES, TokenStore
from sentra.cli.common import ConfigOpt, DataDirOpt, console, out, settings_or_exit
from sentra.state.layout import Layout
from sentra.store.open import open_database

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


def _store(data_dir: DataDirOpt, config: ConfigOpt) -> TokenStore:
    settings = settings_or_exit(data_dir, config)
    Layout(settings.data_dir).ensure()
    return TokenStore(open_database(settings))


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", "-n", help="What the token is for.")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLES)}.")] = (
        "viewer"
    ),
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a token and print it (only here: Sentra keeps just its hash)."""
    if role not in ROLES:
        console.print(f"[red]sentra: --role must be one of {', '.join(ROLES)}[/red]")
        raise typer.Exit(2)
    store = _store(data_dir, config)
    try:
        token = store.create(name, role)
    except ValueError as exc:
        console.print(f"[red]sentra: {exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        store.close()
    out.print(token, highlight=False, soft_wrap=True)


@app.command("list")
def list_tokens(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """List tokens (ids, names, roles, last use; never the secrets)."""
    store = _store(data_dir, config)
    table = Table("id", "name", "role", "created", "last used")
    for t in store.list():
        table.add_row(t.id, t.name, t.role, _when(t.created_at), _when(t.last_used_at))
    store.close()
    out.print(table)


@app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(help="The id shown by 'sentra token list'.")],
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Revoke a token at once."""
    store = _store(data_dir, config)
    found = store.revoke(token_id)
    store.close()
    if not found:
        console.print(f"[red]sentra: no token with id {token_id}[/red]")
        raise typer.Exit(1)
    out.print(f"revoked {token_id}")


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
