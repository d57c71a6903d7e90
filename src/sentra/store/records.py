"""Logs, spans, dead letters and the idempotency record: the telemetry store's SQL for them.

Functions take a connection (``Db``, either engine) so the store can run them inside its own
transactions (writes) or on a reader's connection (queries).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from sentra.events import LogRecord, Span
from sentra.store.sql import Db, Dialect

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True)
class DeadLetter:
    source: str
    reason: str
    payload: str
    ts: float = 0.0
    id: int = 0


def insert_logs(conn: Db, logs: Sequence[LogRecord]) -> None:
    conn.executemany(
        "INSERT INTO logs(ts_ms, severity, severity_number, service, version, body, attributes,"
        " trace_id, span_id) VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (
                round(r.ts * 1000),
                r.severity,
                r.severity_number,
                r.service,
                r.version,
                r.body,
                _json.encode(r.attributes).decode(),
                r.trace_id,
                r.span_id,
            )
            for r in logs
        ],
    )


def insert_spans(conn: Db, spans: Sequence[Span]) -> None:
    conn.executemany(
        "INSERT INTO spans(trace_id, span_id, parent_id, service, version, name, kind, start_ms,"
        " duration_ms, status, status_message, attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                s.trace_id,
                s.span_id,
                s.parent_id,
                s.service,
                s.version,
                s.name,
                s.kind,
                s.start * 1000.0,
                s.duration_ms,
                s.status,
                s.status_message,
                _json.encode(s.attributes).decode(),
            )
            for s in spans
        ],
    )


def insert_deadletters(conn: Db, items: Iterable[DeadLetter], now: float) -> None:
    conn.executemany(
        "INSERT INTO deadletters(ts, source, reason, payload) VALUES (?,?,?,?)",
        [(now, d.source, d.reason, d.payload[:65536]) for d in items],
    )


def list_deadletters(conn: Db, limit: int, source: str = "") -> list[DeadLetter]:
    rows = conn.execute(
        "SELECT id, ts, source, reason, payload FROM deadletters "
        "WHERE (? = '' OR source = ?) ORDER BY id DESC LIMIT ?",
        (source, source, limit),
    ).fetchall()
    return [DeadLetter(id=r[0], ts=r[1], source=r[2], reason=r[3], payload=r[4]) for r in rows]


def _span(row: tuple[Any, ...]) -> Span:
    start = row[7] / 1000.0
    return Span(
        trace_id=row[0],
        span_id=row[1],
        parent_id=row[2],
        service=row[3],
        version=row[4],
        name=row[5],
        kind=row[6],
        start=start,
        end=start + row[8] / 1000.0,
        status=row[9],
        status_message=row[10],
        attributes=_decode.decode(row[11]),
    )


_SPAN_COLS = (
    "trace_id, span_id, parent_id, service, version, name, kind, start_ms, "
    "duration_ms, status, status_message, attributes"
)


def query_spans(
    conn: Db,
    *,
    service: str,
    version: str,
    status: str,
    start: float,
    end: float,
    min_duration_ms: float,
    limit: int,
) -> list[Span]:
    where = ["start_ms >= ?", "start_ms <= ?"]
    args: list[Any] = [start * 1000.0, end * 1000.0]
    for column, value in (("service", service), ("version", version), ("status", status)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if min_duration_ms > 0:
        where.append("duration_ms >= ?")
        args.append(min_duration_ms)
    rows = conn.execute(
        f"SELECT {_SPAN_COLS} FROM spans WHERE {' AND '.join(where)} "
        "ORDER BY start_ms DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [_span(r) for r in rows]


def trace_spans(conn: Db, trace_id: str) -> list[Span]:
    rows = conn.execute(
        f"SELECT {_SPAN_COLS} FROM spans WHERE trace_id = ? ORDER BY start_ms", (trace_id,)
    ).fetchall()
    return [_span(r) for r in rows]


def query_logs(
    conn: Db,
    *,
    service: str,
    version: str,
    min_severity: int,
    contains: str,
    trace_id: str,
    start: float,
    end: float,
    limit: int,
) -> list[LogRecord]:
    where = ["ts_ms >= ?", "ts_ms <= ?"]
    args: list[Any] = [round(start * 1000), round(end * 1000)]
    for column, value in (("service", service), ("version", version), ("trace_id", trace_id)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if min_severity:
        where.append("severity_number >= ?")
        args.append(min_severity)
    if contains:  # a plain substring, case-sensitive (no LIKE wildcards or case rules)
        find = "strpos" if conn.dialect is Dialect.POSTGRES else "instr"
        where.append(f"{find}(body, ?) > 0")
        args.append(contains)
    rows = conn.execute(
        "SELECT ts_ms, body, severity, severity_number, service, version, attributes, trace_id,"
        f" span_id FROM logs WHERE {' AND '.join(where)} ORDER BY ts_ms DESC, id DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [
        LogRecord(
            ts=r[0] / 1000,
            body=r[1],
            severity=r[2],
            severity_number=r[3],
            service=r[4],
            version=r[5],
            attributes=_decode.decode(r[6]),
            trace_id=r[7],
            span_id=r[8],
        )
        for r in rows
    ]


def expire(
    conn: Db,
    *,
    logs_before_ms: int,
    spans_before_ms: int,
    dedupe_before_ms: int,
    deadletters_before: float,
) -> int:
    removed = conn.execute("DELETE FROM logs WHERE ts_ms < ?", (logs_before_ms,)).rowcount
    removed += conn.execute("DELETE FROM spans WHERE start_ms < ?", (spans_before_ms,)).rowcount
    removed += conn.execute("DELETE FROM dedupe_log WHERE ts_ms < ?", (dedupe_before_ms,)).rowcount
    removed += conn.execute("DELETE FROM deadletters WHERE ts < ?", (deadletters_before,)).rowcount
    return removed
