"""Open the node's database once at start: pick the engine, migrate, open the sub-stores.

``[history] backend`` chooses SQLite (the file ``db_path``, the embedded default) or
PostgreSQL (``postgres_dsn``, or the first line of the 0600 file ``postgres_dsn_file``).
The schema is migrated here, once, by whoever opens the database (the node, a CLI command),
so the stores themselves never run DDL.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from sentra.auth.tokens import TokenStore
from sentra.config import HistorySettings, Settings
from sentra.store.sql import DbTarget, migrate
from sentra.store.sqlite.agents import AgentStore
from sentra.store.sqlite.audit import AuditStore
from sentra.store.sqlite.rollouts import RolloutStore
from sentra.store.timeseries import TelemetryStore, Tier


class DatabaseConfigError(ValueError):
    """The [history] settings do not name a usable database."""


def db_target(settings: Settings) -> DbTarget:
    """Where the node's database is, from the settings (the DSN is read, never logged)."""
    history = settings.history
    if history.backend == "sqlite":
        return DbTarget.sqlite(Path(settings.db_path))
    dsn = _dsn(history)
    if not dsn:
        raise DatabaseConfigError(
            "[history] backend is postgres but neither postgres_dsn nor postgres_dsn_file is set"
        )
    return DbTarget.postgres(dsn)


def _dsn(history: HistorySettings) -> str:
    dsn = history.postgres_dsn.get_secret_value().strip() if history.postgres_dsn else ""
    path = history.postgres_dsn_file
    if path is None:
        return dsn
    if dsn:
        raise DatabaseConfigError("set [history] postgres_dsn or postgres_dsn_file, not both")
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatabaseConfigError(
            f"cannot read [history] postgres_dsn_file {path}: {exc}"
        ) from None
    if stat.S_IMODE(mode) & 0o077:
        raise DatabaseConfigError(
            f"[history] postgres_dsn_file {path} is readable by others "
            f"(mode {stat.S_IMODE(mode):o}): chmod 600 it"
        )
    return text.strip().splitlines()[0].strip() if text.strip() else ""


@dataclass
class Stores:
    """The sub-stores on the node's database, sharing one migrated target."""

    target: DbTarget
    rollouts: RolloutStore
    audit: AuditStore
    tokens: TokenStore
    agents: AgentStore
    telemetry: TelemetryStore

    def close(self) -> None:
        for store in (self.rollouts, self.audit, self.tokens, self.agents, self.telemetry):
            store.close()


def open_stores(settings: Settings, *, migrate_in_child: bool = False) -> Stores:
    """Migrate the database to head and open every sub-store on it (``migrate_in_child``:
    see :func:`sentra.store.sql.migrate`)."""
    target = open_database(settings, migrate_in_child=migrate_in_child)
    return Stores(
        target=target,
        rollouts=RolloutStore(target),
        audit=AuditStore(target),
        tokens=TokenStore(target),
        agents=AgentStore(target),
        telemetry=open_telemetry(settings, target),
    )


def open_telemetry(
    settings: Settings, target: DbTarget, *, readonly: bool = False
) -> TelemetryStore:
    """The telemetry store on ``target`` (migrated already) with the history settings."""
    h = settings.history
    return TelemetryStore(
        target,
        retention_days=h.retention_days,
        tiers=[
            Tier(h.tier1_spacing_s, h.tier1_retention_days),
            Tier(h.tier2_spacing_s, h.tier2_retention_days),
        ],
        seal_interval_s=h.seal_interval_s,
        max_head_rows=h.max_head_rows,
        records_retention_days=settings.ingest.records_retention_days,
        deadletter_retention_days=settings.ingest.deadletter_retention_days,
        dedupe_window_s=settings.ingest.dedupe_window_s,
        readonly=readonly,
        migrate_schema=False,
    )


def open_database(settings: Settings, *, migrate_in_child: bool = False) -> DbTarget:
    """The migrated database of ``settings`` (for CLI commands that need one store)."""
    target = db_target(settings)
    migrate(target, in_child=migrate_in_child)
    return target
