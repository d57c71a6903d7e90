"""Rewrite the settings tables in docs/configuration.md from the settings model.

Run after adding a setting: ``.venv/bin/python tools/gen_settings_doc.py``. The docs test
fails when a setting is missing from the page.
"""

from __future__ import annotations

from pathlib import Path

from sentra.config import ENV_ALIASES, env_name, iter_fields

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def tables() -> str:
    rows = [
        "| setting (`sentra.toml`) | environment | default | what it does |",
        "|---|---|---|---|",
        "| — | `SENTRA_DATA_DIR` | `$XDG_DATA_HOME/sentra` (`~/.local/share/sentra`) "
        "| Root of everything Sentra writes. |",
    ]
    for group, field, default, doc in iter_fields():
        shown = "—" if default is None else f"`{default}`"
        rows.append(f"| `[{group}] {field}` | `{env_name(group, field)}` | {shown} | {doc} |")
    aliases = ["| seed name | same as |", "|---|---|"]
    aliases += [f"| `{k}` | `{env_name(*v)}` |" for k, v in ENV_ALIASES.items()]
    return "\n".join(rows) + "\n\n" + "\n".join(aliases)


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{tables()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
