"""`sentra user …`: dashboard users, managed offline on the data dir (the node may run).

Passwords are read without echo from the terminal (twice), or as one line from stdin with
``--password-stdin`` for scripts; never from the command line, where ``ps`` and the shell
history would see them.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from sentra.auth.sessions import SessionStore
from sentra.auth.tokens import ROLES
from sentra.auth.users import (
    PasswordPolicyError,
    Passwords,
    UserError,
    UserStore,
    check_name,
    check_password,
)
from sentra.cli.common import ConfigOpt, DataDirOpt, console, out, settings_or_exit
from sentra.config import Settings
from sentra.state.layout import Layout
from sentra.store.open import open_database

app = typer.Typer(help="Add, change and remove dashboard users.", no_args_is_help=True)
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
]


def _open(data_dir: DataDirOpt, config: ConfigOpt) -> tuple[Settings, UserStore]:
    settings = settings_or_exit(data_dir, config)
    Layout(settings.data_dir).ensure()
    return settings, UserStore.open(open_database(settings))


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]sentra: {message}[/red]")
    return typer.Exit(code)


def _read_password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"Password for {name}", hide_input=True)
        if typer.prompt("Again", hide_input=True) != password:
            raise _fail("the two passwords differ")
    try:
        check_password(name, password)
    except PasswordPolicyError as exc:
        raise _fail(str(exc)) from None
    return password


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="The user name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLES)}.")] = (
        "viewer"
    ),
    password_stdin: PasswordStdin = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a user with a password."""
    if role not in ROLES:
        raise _fail(f"--role must be one of {', '.join(ROLES)}")
    try:
        norm = check_name(name)
    except UserError as exc:
        raise _fail(str(exc)) from None
    _, users = _open(data_dir, config)
    try:
        if users.get(norm):
            raise _fail(f"there is already a user named {norm!r}", 1)
        hashed = Passwords().hash(_read_password(norm, password_stdin))
        users.add(norm, role, hashed, now=time.time())
    except UserError as exc:
        raise _fail(str(exc), 1) from None
    finally:
        users.close()
    out.print(f"added {norm} ({role})")


@app.command()
def passwd(
    name: Annotated[str, typer.Argument(help="The user whose password to set.")],
    password_stdin: PasswordStdin = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Set a user's password; every sign-in of that user ends."""
    _, users = _open(data_dir, config)
    try:
        user = users.get(name)
        if user is None:
            raise _fail(f"there is no user named {name!r}", 1)
        hashed = Passwords().hash(_read_password(user.name, password_stdin))
        now = time.time()
        users.update(user.name, now=now, password_hash=hashed)
        ended = SessionStore(users.connection).revoke_user(
            user.name, now=now, reason="password set"
        )
    finally:
        users.close()
    out.print(f"password set for {user.name} ({ended} sign-ins ended)")


@app.command()
def remove(
    name: Annotated[str, typer.Argument(help="The user to remove.")],
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Remove a user (not the last admin) and end their sign-ins."""
    _, users = _open(data_dir, config)
    try:
        users.remove(name)
        SessionStore(users.connection).revoke_user(
            name.strip().lower(), now=time.time(), reason="user removed"
        )
    except UserError as exc:
        raise _fail(str(exc), 1) from None
    finally:
        users.close()
    out.print(f"removed {name.strip().lower()}")


@app.command("list")
def list_users(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """List users: names, roles, whether they have a password and 2FA."""
    _, users = _open(data_dir, config)
    table = Table("name", "role", "password", "2FA", "disabled", "created")
    for u in users.list():
        created = datetime.fromtimestamp(u.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        table.add_row(
            u.name,
            u.role,
            "set" if u.has_password else "none",
            "on" if u.totp_enabled else "off",
            "yes" if u.disabled else "no",
            created,
        )
    users.close()
    out.print(table)


@app.command()
def link(
    name: Annotated[str, typer.Argument(help="The user the link signs in.")] = "admin",
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print a new one-time sign-in link for a user (e.g. an admin who lost the password)."""
    settings, users = _open(data_dir, config)
    try:
        code = users.issue_code(name, now=time.time(), ttl_s=settings.auth.signin_link_ttl_s)
    except UserError as exc:
        raise _fail(str(exc), 1) from None
    finally:
        users.close()
    out.print(f"{settings.dashboard_url}/#signin={code}", highlight=False, soft_wrap=True)
