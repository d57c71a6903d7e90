"""The embedded SQLite store (WAL, one writer, compressed chunks and rollup tiers)."""

from sentra.store.sqlite.store import SqliteStore, Tier

__all__ = ["SqliteStore", "Tier"]
