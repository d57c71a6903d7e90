"""The docs name every setting, command and endpoint (fails when one is added undocumented)."""

from pathlib import Path

import pytest
import typer.main

from sentra.api import create_app
from sentra.cli.main import app as cli
from sentra.config import all_env_names, iter_fields

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_every_setting_and_variable_is_documented():
    text = _read("configuration.md")
    missing = [name for name in all_env_names() if f"`{name}`" not in text]
    missing += [f"[{g}] {f}" for g, f, _d, _doc in iter_fields() if f"`[{g}] {f}`" not in text]
    assert not missing, f"document these in docs/configuration.md: {missing}"


def _commands(group: typer.Typer, prefix: str = "sentra") -> list[str]:
    click_group = typer.main.get_command(group)
    out = []

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}")
        else:
            out.append(path)

    walk(click_group, prefix)
    return out


def test_every_cli_command_is_documented():
    text = _read("cli.md")
    missing = [c for c in _commands(cli) if f"`{c}" not in text]
    assert not missing, f"document these in docs/cli.md: {missing}"


@pytest.fixture(scope="module")
def routes():
    app = create_app(ctx=None)  # type: ignore[arg-type]
    paths = app.openapi()["paths"]
    return [(m.upper(), p) for p, ops in paths.items() for m in ops]


def test_every_endpoint_is_documented(routes):
    text = _read("api.md")
    missing = [f"{m} {p}" for m, p in routes if f"`{m} {p}`" not in text]
    assert routes and not missing, f"document these in docs/api.md: {missing}"
