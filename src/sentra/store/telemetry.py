"""Per-version summaries of spans and logs: the SQL behind the builtin telemetry source.

Functions take a (reader) connection, ``Db`` on either engine, like records.py. Every
query is bounded by one service and one time window, ``[start_ms, end_ms)``, so it walks
the ``(service, start_ms)`` index and touches only that window's rows; the version, kind
and status are checked on those rows. The requests of a version are its ``server`` spans
or, for a service that records none in the window, its root spans (no parent): ``roots``
below.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentra.store.sql import Db

_WINDOW = "service = ? AND version = ? AND start_ms >= ? AND start_ms < ?"
_SERVER = f"{_WINDOW} AND kind = 'server'"
_ROOTS = f"{_WINDOW} AND parent_id = ''"
# Shaped for an index on spans(service, version, kind, start_ms, duration_ms, status): with
# it the server-span queries read the index alone (0.2 ms for 600 canary spans, 3 ms for
# 11,000 stable ones, against 15-30 ms through spans_by_service; see the source's docs).


@dataclass(frozen=True)
class SpanSummary:
    """The requests of one version in one window."""

    count: int
    errors: int
    total_ms: float
    roots: bool  # True: no server spans in the window, these are root spans


def span_summary(
    conn: Db, service: str, version: str, start_ms: float, end_ms: float
) -> SpanSummary:
    """Count, errors and summed duration of the version's requests."""
    args = (service, version, start_ms, end_ms)
    for where, roots in ((_SERVER, False), (_ROOTS, True)):
        n, errors, total = conn.execute(
            "SELECT count(*), coalesce(sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0),"
            " coalesce(sum(duration_ms), 0.0)"
            f" FROM spans WHERE {where}",
            args,
        ).fetchone()
        if n:
            return SpanSummary(int(n), int(errors), float(total), roots=roots)
    return SpanSummary(0, 0, 0.0, roots=False)


def span_durations(
    conn: Db, service: str, version: str, start_ms: float, end_ms: float
) -> list[float]:
    """The durations (ms) of the version's requests, in no particular order."""
    args = (service, version, start_ms, end_ms)
    for where in (_SERVER, _ROOTS):
        rows = conn.execute(f"SELECT duration_ms FROM spans WHERE {where}", args).fetchall()
        if rows:
            return [r[0] for r in rows]
    return []


@dataclass(frozen=True)
class SpanRow:
    trace_id: str
    span_id: str
    name: str
    duration_ms: float
    status: str
    start_ms: float


def example_spans(
    conn: Db,
    service: str,
    version: str,
    start_ms: float,
    end_ms: float,
    limit: int,
) -> list[SpanRow]:
    """Up to ``limit`` requests worth a look: failed ones newest first, then the slowest."""
    roots = span_summary(conn, service, version, start_ms, end_ms).roots
    which = _ROOTS if roots else _SERVER
    cols = "trace_id, span_id, name, duration_ms, status, start_ms"
    args = (service, version, start_ms, end_ms)
    failed = conn.execute(
        f"SELECT {cols} FROM spans WHERE {which} AND status = 'error' "
        "ORDER BY start_ms DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    slow = conn.execute(
        f"SELECT {cols} FROM spans WHERE {which} ORDER BY duration_ms DESC, start_ms DESC LIMIT ?",
        (*args, limit * 2),
    ).fetchall()
    out: list[SpanRow] = []
    seen: set[tuple[str, str]] = set()
    for row in [*failed, *slow]:
        key = (row[0], row[1])
        if key in seen:
            continue
        seen.add(key)
        out.append(SpanRow(*row))
        if len(out) >= limit:
            break
    return out


def log_summary(
    conn: Db,
    service: str,
    version: str,
    start_ms: int,
    end_ms: int,
    min_error_severity: int = 17,
) -> tuple[int, int]:
    """(all log records, records at ERROR or worse) of the version in the window."""
    n, errors = conn.execute(
        "SELECT count(*), coalesce(sum(CASE WHEN severity_number >= ? THEN 1 ELSE 0 END), 0) "
        "FROM logs "
        "WHERE service = ? AND version = ? AND ts_ms >= ? AND ts_ms < ?",
        (min_error_severity, service, version, start_ms, end_ms),
    ).fetchone()
    return int(n), int(errors)
