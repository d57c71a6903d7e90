"""What one live client wants to see: kinds, metric names and labels, services, source.

Pure: no I/O, no clock. A filter is parsed from query parameters (WebSocket and SSE alike)
or from a WebSocket ``subscribe`` message, and is hashable, so clients with the same
filter share one encoded frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("metrics", "status", "logs", "spans", "decisions", "alerts", "wg")
DEFAULT_KINDS = frozenset({"metrics", "status"})
SOURCES = ("all", "collect", "ingest")
# Query parameters a filter reads; ``access_token`` belongs to authentication.
PARAMS = ("kinds", "name", "labels", "service", "version", "source")
IGNORED_PARAMS = frozenset({"access_token"})
_LABEL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(=~|!~|!=|=)(.*)$")


class FilterError(ValueError):
    """A filter that cannot be used; the message says what is wrong and how to write it."""


@dataclass(frozen=True)
class LabelMatcher:
    """``key=value``, ``key!=value``, ``key=~regex`` or ``key!~regex`` (regex: full match)."""

    key: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, hash=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.key, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        assert self.pattern is not None
        hit = self.pattern.fullmatch(got) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


@dataclass(frozen=True)
class LiveFilter:
    """A client's subscription. Empty tuples mean "any"."""

    kinds: frozenset[str] = DEFAULT_KINDS
    names: tuple[str, ...] = ()  # fnmatch globs on metric names
    labels: tuple[LabelMatcher, ...] = ()  # all must match a sample's labels
    services: tuple[str, ...] = ()  # spans and logs: record's service
    versions: tuple[str, ...] = ()  # spans and logs: record's version
    source: str = "all"  # metrics: collect (collector ticks), ingest (applications), all

    def describe(self) -> dict[str, Any]:
        """The filter as JSON, echoed in ``hello`` and ``subscribed`` messages."""
        return {
            "kinds": sorted(self.kinds),
            "name": list(self.names),
            "labels": [str(m) for m in self.labels],
            "service": list(self.services),
            "version": list(self.versions),
            "source": self.source,
        }


def _split(values: Iterable[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def parse_label(text: str) -> LabelMatcher:
    m = _LABEL.match(text)
    if m is None:
        raise FilterError(
            f"label matcher {text!r} is not of the form key=value, key!=value, "
            "key=~regex or key!~regex"
        )
    key, op, value = m.group(1), m.group(2), m.group(3).strip().strip('"')
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise FilterError(f"label matcher {text!r}: bad regular expression: {exc}") from None
    return LabelMatcher(key, op, value, pattern)


def build_filter(
    *,
    kinds: Sequence[str] = (),
    names: Sequence[str] = (),
    labels: Sequence[str] = (),
    services: Sequence[str] = (),
    versions: Sequence[str] = (),
    source: str = "",
) -> LiveFilter:
    """A filter from raw values; list values may also hold comma-separated items."""
    kind_list = _split(kinds)
    unknown = [k for k in kind_list if k not in KINDS]
    if unknown:
        raise FilterError(f"unknown kind {unknown[0]!r}; kinds are {', '.join(KINDS)}")
    src = (source or "all").strip()
    if src not in SOURCES:
        raise FilterError(f"source must be one of {', '.join(SOURCES)} (got {src!r})")
    # Label values may contain commas inside a regex: a matcher is split on commas only
    # where the next part starts a new ``key<op>``.
    matchers: list[LabelMatcher] = []
    for raw in labels:
        parts: list[str] = []
        for piece in raw.split(","):
            if parts and not _LABEL.match(piece):
                parts[-1] += "," + piece
            else:
                parts.append(piece)
        matchers.extend(parse_label(p) for p in parts if p.strip())
    return LiveFilter(
        kinds=frozenset(kind_list) if kind_list else DEFAULT_KINDS,
        names=tuple(sorted(set(_split(names)))),
        labels=tuple(sorted(set(matchers), key=str)),
        services=tuple(sorted(set(_split(services)))),
        versions=tuple(sorted(set(_split(versions)))),
        source=src,
    )


def from_query(items: Iterable[tuple[str, str]]) -> LiveFilter:
    """A filter from query parameters (``?kinds=metrics,status&name=system.cpu.*``)."""
    values: dict[str, list[str]] = {}
    for key, value in items:
        if key in IGNORED_PARAMS:
            continue
        if key not in PARAMS:
            raise FilterError(f"unknown parameter {key!r}; filters are {', '.join(PARAMS)}")
        values.setdefault(key, []).append(value)
    sources = values.get("source", [])
    if len(sources) > 1:
        raise FilterError("give source once: all, collect or ingest")
    return build_filter(
        kinds=values.get("kinds", []),
        names=values.get("name", []),
        labels=values.get("labels", []),
        services=values.get("service", []),
        versions=values.get("version", []),
        source=sources[0] if sources else "",
    )


def _strings(msg: Mapping[str, Any], key: str) -> list[str]:
    value = msg.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise FilterError(f"{key!r} must be a string or a list of strings")


def from_message(msg: Mapping[str, Any]) -> LiveFilter:
    """A filter from a WebSocket message ``{"type": "subscribe", "kinds": [...], ...}``.

    The new filter replaces the old one entirely (keys left out take their defaults).
    """
    unknown = [k for k in msg if k != "type" and k not in PARAMS]
    if unknown:
        raise FilterError(f"unknown key {unknown[0]!r}; filters are {', '.join(PARAMS)}")
    source = msg.get("source", "")
    if not isinstance(source, str):
        raise FilterError("'source' must be a string: all, collect or ingest")
    return build_filter(
        kinds=_strings(msg, "kinds"),
        names=_strings(msg, "name"),
        labels=_strings(msg, "labels"),
        services=_strings(msg, "service"),
        versions=_strings(msg, "version"),
        source=source,
    )
