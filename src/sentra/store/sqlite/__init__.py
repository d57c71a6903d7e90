"""SQLite specifics: the legacy schema steps (schema.py) and the stores kept here.

``SqliteStore`` is the telemetry store (``sentra.store.timeseries.TelemetryStore``, which
runs on SQLite or PostgreSQL) under the name it had when SQLite was its only engine:
``SqliteStore(path)`` opens a SQLite file.
"""

from sentra.store.timeseries import TelemetryStore, Tier

SqliteStore = TelemetryStore

__all__ = ["SqliteStore", "Tier"]
