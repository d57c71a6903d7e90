"""On-disk bytes per raw sample of host telemetry in SqliteStore, against a naive table.

Usage: .venv/bin/python bench/store_size.py [--quick] [--hours H] [--real-seconds S]

1. Synthetic: HOURS of simulated host telemetry at 1 s (bench/_hostsim.py: the series set
   and value shapes of sentra's host collectors on a typical 8-core server), appended in
   1-second batches through SqliteStore with a seal every 600 s of simulated time, as the
   node does. Reported: (page_count - freelist) * page_size / raw samples, split by table
   with SQLite's dbstat, and the same data in a naive one-row-per-sample table (the in-run
   peer). Target: <= 2 bytes/sample.
2. Real: the real host collectors of this machine sampled for REAL_SECONDS at aligned 1 s
   ticks, stored the same way. Short, so the per-chunk overhead weighs far more than at
   steady state (one chunk per series instead of one per 600 samples); said in the output.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import emit, log, machine, target, temp_dir
from _hostsim import HostSim, ticks
from sentra.collect.host import host_collectors
from sentra.events import Sample
from sentra.store.sqlite import SqliteStore

T0 = 1_700_000_400.0  # a multiple of 600 s: seals fall on the same boundaries as in a node
SEAL_EVERY_S = 600
TARGET_BYTES = 2.0


def breakdown(path: Path) -> dict[str, Any]:
    """Used bytes of the database file, by table (dbstat), plus chunk payload figures."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        stat = {
            name: (size, payload)
            for name, size, payload in conn.execute(
                "SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name"
            )
        }
        by_name = {name: size for name, (size, _) in stat.items()}
        chunk_bytes, chunk_samples, n_chunks = conn.execute(
            "SELECT coalesce(sum(length(data)), 0), coalesce(sum(n), 0), count(*) FROM chunks"
        ).fetchone()
        (head_rows,) = conn.execute("SELECT count(*) FROM head").fetchone()
        tiers = dict(conn.execute("SELECT tier, count(*) FROM rollups GROUP BY tier"))
    finally:
        conn.close()
    used = (pages - free) * page_size
    chunks = int(by_name.get("chunks", 0))
    rollups = int(by_name.get("rollups", 0))
    head = int(by_name.get("head", 0))
    return {
        "db_used_bytes": used,
        "page_size": page_size,
        "freelist_pages": free,
        "chunks_bytes": chunks,
        "rollups_bytes": rollups,
        "head_bytes": head,
        "other_bytes": used - chunks - rollups - head,
        "chunks": n_chunks,
        # Fraction of the chunks b-tree's page bytes that hold payload (1.0 = packed).
        "chunks_page_fill": round(stat["chunks"][1] / chunks, 3) if chunks else None,
        "rollups_page_fill": round(stat["rollups"][1] / rollups, 3) if rollups else None,
        "chunk_payload_bytes": int(chunk_bytes),
        "raw_samples": int(chunk_samples) + int(head_rows),
        "head_rows": int(head_rows),
        "rollup_rows_by_tier": {str(k): v for k, v in tiers.items()},
    }


def per_sample(b: dict[str, Any]) -> dict[str, float]:
    n = max(b["raw_samples"], 1)
    return {
        "total": round(b["db_used_bytes"] / n, 3),
        "chunks": round(b["chunks_bytes"] / n, 3),
        "chunk_payload_only": round(b["chunk_payload_bytes"] / n, 3),
        "rollups": round(b["rollups_bytes"] / n, 3),
        "head": round(b["head_bytes"] / n, 3),
        "other_overhead": round(b["other_bytes"] / n, 3),
    }


def projected_at_retention(b: dict[str, Any], store: SqliteStore) -> float:
    """Bytes per retained raw sample once every tier is at its retention: rollup tiers
    outlive raw chunks (defaults: raw 30 d, 1-min 180 d, 1-h 1825 d), so each tier's share
    grows by retention_tier / retention_raw. Tier bytes are apportioned by row count."""
    n = max(b["raw_samples"], 1)
    rows = b["rollup_rows_by_tier"]
    total_rows = max(sum(rows.values()), 1)
    fixed = b["chunks_bytes"] + b["other_bytes"]
    grown = 0.0
    for level, tier in enumerate(store.tiers, start=1):
        share = b["rollups_bytes"] * rows.get(str(level), 0) / total_rows
        grown += share * tier.retention_days / store.retention_days
    return round((fixed + grown) / n, 3)


def synthetic(dir_: Path, hours: float) -> dict[str, Any]:
    sim = HostSim()
    n = int(hours * 3600)
    log(f"synthetic: generating {hours} h x {len(sim.specs)} series")
    values = sim.generate(n, t0=T0)
    path = dir_ / "sentra.db"
    store = SqliteStore(path, seal_interval_s=SEAL_EVERY_S)
    before_seal: dict[str, Any] = {}
    t = time.perf_counter()
    try:
        for i, (_, batch) in enumerate(ticks(sim.specs, values, T0)):
            store.append(batch)
            if (i + 1) % SEAL_EVERY_S == 0:
                if i + 1 == n:  # the head at its fullest, just before the last seal
                    store.checkpoint()
                    before_seal = breakdown(path)
                store.seal()
        store.seal()
        store.checkpoint()
        elapsed = time.perf_counter() - t
        after = breakdown(path)
        projected = projected_at_retention(after, store)
    finally:
        store.close()
    log(f"synthetic: stored {after['raw_samples']} samples in {elapsed:.1f} s")
    naive = naive_peer(dir_, sim, values)
    return {
        "simulated_hours": hours,
        "series": len(sim.specs),
        "raw_samples": after["raw_samples"],
        "append_seconds": round(elapsed, 1),
        "bytes_per_sample": per_sample(after),
        "bytes_per_sample_projected_full_retention": projected,
        "breakdown": after,
        "head_bytes_before_last_seal": before_seal.get("head_bytes"),
        "head_rows_before_last_seal": before_seal.get("head_rows"),
        "naive_peer": naive,
    }


def naive_peer(dir_: Path, sim: HostSim, values: np.ndarray) -> dict[str, Any]:
    """The same samples, one SQLite row each, inserted in time order like a live node."""
    out: dict[str, Any] = {}
    n_series, n = values.shape
    layouts = {
        "rowid_table_plus_index": (
            "CREATE TABLE samples(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
            "value REAL NOT NULL); CREATE INDEX samples_by_series ON samples(series_id, ts)"
        ),
        "without_rowid_pk": (
            "CREATE TABLE samples(series_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
            "value REAL NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID"
        ),
    }
    sids = np.arange(1, n_series + 1)
    for name, ddl in layouts.items():
        path = dir_ / f"naive-{name}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.executescript(ddl)
            conn.execute("BEGIN")
            for a in range(0, n, 600):
                b = min(a + 600, n)
                ts = np.repeat(((T0 + np.arange(a, b)) * 1000).astype(np.int64), n_series)
                rows = zip(
                    np.tile(sids, b - a).tolist(),
                    ts.tolist(),
                    values[:, a:b].T.ravel().tolist(),
                    strict=True,
                )
                conn.executemany("INSERT INTO samples VALUES (?,?,?)", rows)
            conn.execute("COMMIT")
            (page_size,) = conn.execute("PRAGMA page_size").fetchone()
            (pages,) = conn.execute("PRAGMA page_count").fetchone()
            (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        finally:
            conn.close()
        used = (pages - free) * page_size
        out[name] = {"db_used_bytes": used, "bytes_per_sample": round(used / (n * n_series), 2)}
        log(f"naive peer {name}: {out[name]['bytes_per_sample']} bytes/sample")
    return out


def record_real(seconds: int) -> list[tuple[float, list[Sample]]]:
    """The real host collectors at aligned 1 s ticks, as the sampling loop runs them."""
    collectors = host_collectors(Path("/sys"))
    recorded: list[tuple[float, list[Sample]]] = []
    try:
        while len(recorded) < seconds:
            now = time.time()
            tick = math.floor(now) + 1.0
            time.sleep(tick - now)
            batch: list[Sample] = []
            for c in collectors:
                batch.extend(c.collect(tick))
            recorded.append((tick, batch))
    finally:
        for c in collectors:
            c.close()
    return recorded


def real(dir_: Path, seconds: int) -> dict[str, Any]:
    log(f"real: sampling this host's collectors for {seconds} s")
    recorded = record_real(seconds)
    path = dir_ / "real.db"
    store = SqliteStore(path)
    try:
        for _, batch in recorded:
            store.append(batch)
        store.seal()
        store.checkpoint()
        after = breakdown(path)
    finally:
        store.close()
    keys = {(s.name, tuple(sorted(s.labels.items()))) for _, b in recorded for s in b}
    return {
        "seconds": seconds,
        "series": len(keys),
        "raw_samples": after["raw_samples"],
        "bytes_per_sample": per_sample(after),
        "breakdown": after,
        "note": (
            f"only {seconds} s: one chunk per series of <= {seconds} samples and a near-empty "
            "database, so fixed per-chunk, per-rollup-row and per-table page costs dominate; "
            "not a steady-state figure. chunk_payload_only is the codec's own cost on real "
            "values (still with one chunk header per series)"
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 h synthetic, 10 s real (CI smoke)")
    ap.add_argument("--hours", type=float, default=None, help="simulated hours (default 24)")
    ap.add_argument("--real-seconds", type=int, default=None, help="real sampling (default 60)")
    args = ap.parse_args()
    hours = args.hours or (1.0 if args.quick else 24.0)
    real_s = args.real_seconds or (10 if args.quick else 60)
    started = time.perf_counter()
    with temp_dir("sentra-bench-size-") as d:
        syn = synthetic(d, hours)
        rl = real(d, real_s)
    total = syn["bytes_per_sample"]["total"]
    naive = syn["naive_peer"]
    result = {
        "benchmark": "store_size",
        "mode": "quick" if args.quick else "default",
        "machine": machine(),
        "synthetic": syn,
        "real_collectors": rl,
        "targets": {
            "bytes_per_sample_synthetic": target(total, TARGET_BYTES, unit="bytes"),
        },
        "info": {
            "projected_full_retention_vs_target": target(
                syn["bytes_per_sample_projected_full_retention"], TARGET_BYTES, unit="bytes"
            ),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    ratio = naive["without_rowid_pk"]["bytes_per_sample"] / max(total, 1e-9)
    emit(
        result,
        f"store_size: {total:.2f} B/sample over {hours:g} h synthetic "
        f"({'met' if total <= TARGET_BYTES else 'MISSED'} <= {TARGET_BYTES}); "
        f"chunks {syn['bytes_per_sample']['chunks']:.2f}, "
        f"rollups {syn['bytes_per_sample']['rollups']:.2f}; naive row-per-sample "
        f"{naive['rowid_table_plus_index']['bytes_per_sample']:.1f} / "
        f"{naive['without_rowid_pk']['bytes_per_sample']:.1f} B ({ratio:.0f}x); "
        f"real {real_s} s: {rl['bytes_per_sample']['total']:.2f} B/sample",
    )


if __name__ == "__main__":
    main()
