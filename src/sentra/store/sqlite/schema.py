"""The SQLite schema as it grew before Alembic, kept to upgrade files made back then.

Layout of the time series (see docs/data-layout.md):

* ``head``: the newest samples, one row each, in insertion order (cheap appends; it is the
  write-ahead record of what is not sealed yet and is mirrored in memory for queries);
* ``chunks``: sealed samples, one compressed blob per series per seal (codec.py), in an
  append-ordered rowid table (a key led by series_id split pages on every seal and left
  them ~58% full; see bench/store_size.py);
* ``rollups``: min/max/sum/count per series per bucket for each rollup tier.

Schema changes are Alembic revisions (``sentra.store.migrations``, both engines).
MIGRATIONS below is frozen: it is only the upgrade path of SQLite files made before
Alembic, whose version is ``PRAGMA user_version`` (MIGRATIONS[i] moves a file from version i
to i+1); a file at 6 is then stamped at the Alembic baseline, which holds the same tables.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX series_by_name ON series(name);
    CREATE TABLE head (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        series_id INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        n INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX chunks_by_series ON chunks(series_id, end_ms, start_ms);
    CREATE INDEX chunks_by_end ON chunks(end_ms);
    CREATE TABLE rollups (
        tier INTEGER NOT NULL,
        series_id INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        sum REAL NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (tier, series_id, ts)
    ) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    """,
    # 2: application telemetry (ingest API, OTLP), idempotency record, dead letters.
    """
    CREATE TABLE logs (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        severity TEXT NOT NULL,
        severity_number INTEGER NOT NULL,
        service TEXT NOT NULL,
        version TEXT NOT NULL,
        body TEXT NOT NULL,
        attributes TEXT NOT NULL,
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL
    );
    CREATE INDEX logs_by_time ON logs(ts_ms);
    CREATE INDEX logs_by_service ON logs(service, ts_ms);
    CREATE TABLE spans (
        id INTEGER PRIMARY KEY,
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        parent_id TEXT NOT NULL,
        service TEXT NOT NULL,
        version TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        start_ms REAL NOT NULL,
        duration_ms REAL NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT NOT NULL,
        attributes TEXT NOT NULL
    );
    CREATE INDEX spans_by_trace ON spans(trace_id);
    CREATE INDEX spans_by_service ON spans(service, start_ms);
    CREATE TABLE dedupe_log (ts_ms INTEGER NOT NULL, hashes BLOB NOT NULL);
    CREATE INDEX dedupe_log_by_time ON dedupe_log(ts_ms);
    CREATE TABLE deadletters (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    """,
    # 3: guarded rollouts: the spec and persisted state of each, and every decision taken;
    #    covering indexes for the per-version span and log queries of rollout gates.
    """
    CREATE TABLE rollouts (
        name TEXT PRIMARY KEY,
        spec_json TEXT NOT NULL,
        spec_yaml TEXT NOT NULL,
        state_json TEXT NOT NULL,
        phase TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        rollout TEXT NOT NULL,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        from_phase TEXT NOT NULL,
        to_phase TEXT NOT NULL,
        step_index INTEGER NOT NULL,
        weights TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        evidence TEXT NOT NULL
    );
    CREATE INDEX decisions_by_rollout ON decisions(rollout, id);
    CREATE INDEX spans_by_version ON spans(service, version, kind, start_ms, duration_ms, status);
    CREATE INDEX logs_by_version ON logs(service, version, ts_ms, severity_number);
    """,
    # wireguard: interfaces, peers (secrets encrypted), traffic counters, endpoint history,
    #    one-time config links (store/sqlite/wireguard.py).
    """
    CREATE TABLE wg_interfaces (
        name TEXT PRIMARY KEY,
        addresses TEXT NOT NULL,
        listen_port INTEGER NOT NULL,
        public_key TEXT NOT NULL,
        private_key_enc TEXT NOT NULL,
        dns TEXT NOT NULL,
        mtu INTEGER,
        endpoint TEXT NOT NULL,
        client_allowed_ips TEXT NOT NULL,
        persistent_keepalive INTEGER NOT NULL,
        netns TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE wg_peers (
        id TEXT PRIMARY KEY,
        interface TEXT NOT NULL,
        name TEXT NOT NULL,
        public_key TEXT NOT NULL,
        addresses TEXT NOT NULL,
        allowed_ips TEXT NOT NULL,
        extra_routes TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        expires_at REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        private_key_enc TEXT,
        preshared_key_enc TEXT,
        UNIQUE (interface, public_key)
    );
    CREATE INDEX wg_peers_by_interface ON wg_peers(interface, created_at);
    CREATE TABLE wg_counters (
        peer_id TEXT PRIMARY KEY,
        rx_total INTEGER NOT NULL,
        tx_total INTEGER NOT NULL,
        last_rx INTEGER NOT NULL,
        last_tx INTEGER NOT NULL,
        endpoint TEXT,
        updated_at REAL NOT NULL
    );
    CREATE TABLE wg_endpoints (
        id INTEGER PRIMARY KEY,
        peer_id TEXT NOT NULL,
        ts REAL NOT NULL,
        endpoint TEXT NOT NULL
    );
    CREATE INDEX wg_endpoints_by_peer ON wg_endpoints(peer_id, id);
    CREATE TABLE wg_links (
        code_hash TEXT PRIMARY KEY,
        peer_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL
    );
    """,
    # audit: every state-changing request, who/what/when/from where (store/sqlite/audit.py).
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        actor TEXT NOT NULL,
        actor_kind TEXT NOT NULL,
        role TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        client TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_by_ts ON audit(ts);
    CREATE INDEX audit_by_actor ON audit(actor, id);
    """,
    # auth: users, sign-in sessions and their refresh tokens, one-time sign-in codes
    #    (auth/users.py, auth/sessions.py).
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT,
        disabled INTEGER NOT NULL DEFAULT 0,
        totp_secret TEXT,
        totp_pending TEXT,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE auth_sessions (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        revoked_at REAL,
        revoke_reason TEXT
    );
    CREATE INDEX auth_sessions_by_user ON auth_sessions(user);
    CREATE TABLE refresh_tokens (
        hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        issued_at REAL NOT NULL,
        used_at REAL
    );
    CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);
    CREATE TABLE signin_codes (
        hash TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL
    );
    """,
]


def legacy_upgrade(conn: sqlite3.Connection) -> int:
    """Run the pre-Alembic steps on a file at user_version 1-5, inside the caller's
    transaction; return the version it is at. A new file (0) is left to the Alembic
    baseline, a file already under Alembic (above 6) is left as it is."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == 0 or version >= len(MIGRATIONS):
        return int(version)
    for target in range(version, len(MIGRATIONS)):
        for statement in MIGRATIONS[target].split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target + 1}")
    return len(MIGRATIONS)
