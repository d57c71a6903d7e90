"""Placeholder expansion in gate queries: ``{{service}}``, ``{{version}}``, ``{{window}}``…

A gate's query names the arm through placeholders, so one query serves stable, canary and
baseline. Known names:

``{{service}}``, ``{{version}}`` (the arm's version), ``{{arm}}``, ``{{window}}`` (the window
as a Prometheus/Loki duration such as ``37s``), ``{{stable}}``, ``{{canary}}``,
``{{baseline}}`` (each arm's version) and ``{{labels.<k>}}`` (the target's extra labels).

Injection safety: the expander tracks the query language's string literals (``"…"`` and
``'…'`` with backslash escapes, and raw ``\\`…\\``` — PromQL, LogQL and TraceQL share these
rules). A value inside a quoted literal is escaped for that literal; a value outside any
literal must be a plain word (letters, digits, ``_ . : -``), so a version such as
``v1") or vector(1`` can never change the query's meaning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from sentra.rollout.sources.base import Arm, SourceError, Target, Window

# A name right after "{{": LogQL's own Go templates ({{.field}}, {{ __line__ }},
# {{ if … }}) do not match and pass through untouched.
_PLACEHOLDER = re.compile(r"\{\{\s*((?!__)[A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}")
_FIXED = ("service", "version", "arm", "window", "stable", "canary", "baseline")
_BARE_OK = re.compile(r"[A-Za-z0-9_.:\-]*")


class TemplateError(SourceError):
    """A query whose placeholders cannot be filled (never retryable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def duration(seconds: float) -> str:
    """A window length as a Prometheus/Loki duration: whole seconds, rounded up, ≥ 1s.

    A millisecond of slack absorbs float error: ``now - (now - 60)`` is 60.0000001 s at
    today's epoch, which must read ``60s``, not ``61s``.
    """
    return f"{max(math.ceil(seconds - 1e-3), 1)}s"


def placeholder_names(template: str) -> list[str]:
    """Every placeholder named in ``template``, in order of appearance."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def unknown_placeholders(template: str, label_keys: frozenset[str] | None = None) -> list[str]:
    """Placeholders that no target could fill (for checking a spec before anything moves).

    With ``label_keys``, ``{{labels.k}}`` counts as unknown unless ``k`` is among them.
    """
    bad = []
    for name in placeholder_names(template):
        if name in _FIXED:
            continue
        key = name[len("labels.") :] if name.startswith("labels.") else ""
        if key and (label_keys is None or key in label_keys):
            continue
        bad.append(name)
    return bad


def values(arm: Arm, target: Target, window: Window) -> Mapping[str, str]:
    """The plain (unescaped) value of every fixed placeholder that this target can fill."""
    out = {"service": target.service, "arm": arm.value, "window": duration(window.seconds)}
    for each in Arm:
        if each in target.versions:
            out[each.value] = target.versions[each]
    if arm in target.versions:
        out["version"] = target.versions[arm]
    for key, value in target.labels.items():
        out[f"labels.{key}"] = value
    return out


def _lookup(name: str, table: Mapping[str, str], arm: Arm, target: Target) -> str:
    if name in table:
        return table[name]
    if name == "version":
        target.version(arm)  # raises with the arms the target does name
    if name in ("stable", "canary", "baseline"):
        raise TemplateError(f"{{{{{name}}}}}: the rollout names no {name} version")
    if name.startswith("labels."):
        key = name[len("labels.") :]
        have = ", ".join(sorted(target.labels)) or "none"
        raise TemplateError(f"{{{{{name}}}}}: the target has no label {key!r} (it has {have})")
    known = ", ".join(f"{{{{{n}}}}}" for n in _FIXED)
    raise TemplateError(f"unknown placeholder {{{{{name}}}}} (known: {known}, {{{{labels.<k>}}}})")


def _escape(value: str, quote: str, name: str) -> str:
    if quote == "`":
        if "`" in value:
            raise TemplateError(f"{{{{{name}}}}} = {value!r} cannot go inside a `raw` string")
        return value
    out = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def expand(template: str, arm: Arm, target: Target, window: Window) -> str:
    """``template`` with every placeholder replaced; a TemplateError names a bad one."""
    table = values(arm, target, window)
    out: list[str] = []
    quote = ""  # the open literal's quote character, "" outside literals
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "{" and template.startswith("{{", i):
            m = _PLACEHOLDER.match(template, i)
            if m is None:  # not ours (a LogQL template): keep it as written
                out.append("{{")
                i += 2
                continue
            name = m.group(1)
            value = _lookup(name, table, arm, target)
            if quote:
                out.append(_escape(value, quote, name))
            elif _BARE_OK.fullmatch(value):
                out.append(value)
            else:
                raise TemplateError(
                    f"{{{{{name}}}}} = {value!r} is used outside quotes; put the "
                    f'placeholder inside a string literal, e.g. version="{{{{{name}}}}}"'
                )
            i = m.end()
            continue
        out.append(ch)
        if quote:
            if ch == "\\" and quote != "`" and i + 1 < n:
                out.append(template[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
        i += 1
    if quote:
        raise TemplateError(f"the query has an unclosed {quote} string literal")
    return "".join(out)
