"""Sustained write throughput of the telemetry store, and where the writes should run.

Usage: .venv/bin/python bench/store_write.py [--quick] [--samples N] [--repeats R] [--no-pin]
       [--backend sqlite|postgres|both] [--pg-admin-dsn DSN]

1. Sustained: N pre-built host-telemetry samples (64 series, bench/_hostsim.py) appended
   in batches of 40 ticks (2,560 samples, inside the node's 1,000-5,000 drain size), with
   a seal every 600 s of simulated time (38,400 samples), seals included in the time.
   Fresh store per repeat; median of R. Pinned to one CPU. Target: >= 200,000 samples/s.
   ``--backend postgres`` (or ``both``) runs the same on PostgreSQL: a fresh database per
   repeat, created and dropped through ``--pg-admin-dsn`` (default: the local server as
   user postgres). The client is pinned; the server's processes are not, so on a 2-CPU
   machine they share the other CPU with everything else. Placement (2.) is SQLite only.
2. Placement (STYLE.md habit 9): the same writes from an asyncio loop that also serves a
   "request" every 1 ms (a coroutine doing ~30 us of JSON work per tick), with the writes
   (a) on the loop thread, yielding between batches, and (b) through asyncio.to_thread.
   Reported for both: write samples/s and the server's ticks/s and lag percentiles. Run
   pinned to one CPU (the one-core case) and unpinned (two CPUs: SQLite releases the GIL
   while it works, so a thread can overlap with the loop there).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import emit, log, machine, median, percentile, target, temp_dir
from _hostsim import HostSim, ticks
from sentra.events import Sample
from sentra.store.sql import DbTarget
from sentra.store.sqlite import SqliteStore
from sentra.store.timeseries import TelemetryStore

T0 = 1_700_000_400.0
TICKS_PER_BATCH = 40
SEAL_EVERY_S = 600
TARGET_RATE = 200_000


def build_batches(total: int) -> tuple[list[list[Sample]], int]:
    """Batches of TICKS_PER_BATCH ticks; returns them and the samples per tick."""
    sim = HostSim()
    per_tick = len(sim.specs)
    seconds = -(-total // per_tick)
    seconds = -(-seconds // TICKS_PER_BATCH) * TICKS_PER_BATCH
    values = sim.generate(seconds, t0=T0)
    batches: list[list[Sample]] = []
    current: list[Sample] = []
    for i, (_, tick) in enumerate(ticks(sim.specs, values, T0)):
        current.extend(tick)
        if (i + 1) % TICKS_PER_BATCH == 0:
            batches.append(current)
            current = []
    return batches, per_tick


def seal_due(i: int) -> bool:
    """After batch i, has another SEAL_EVERY_S of simulated time passed?"""
    return ((i + 1) * TICKS_PER_BATCH) % SEAL_EVERY_S == 0


@contextlib.contextmanager
def postgres_database(admin_dsn: str, name: str) -> Iterator[DbTarget]:
    """A fresh PostgreSQL database for one run, dropped afterwards."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield DbTarget.postgres(make_conninfo(admin_dsn, dbname=name))
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def run_target(backend: str, dir_: Path, admin_dsn: str, run: int) -> Iterator[DbTarget]:
    if backend == "sqlite":
        yield DbTarget.sqlite(dir_ / f"sustained-{run}.db")
    else:
        with postgres_database(admin_dsn, f"sentra_bench_{os.getpid()}_{run}") as target:
            yield target


def sustained(target: DbTarget, batches: list[list[Sample]]) -> dict[str, float]:
    store = TelemetryStore(target, seal_interval_s=SEAL_EVERY_S)
    try:
        n = 0
        seal_s = 0.0
        t = time.perf_counter()
        for i, batch in enumerate(batches):
            n += store.append(batch)
            if seal_due(i):
                s = time.perf_counter()
                store.seal()
                seal_s += time.perf_counter() - s
        store.seal()
        elapsed = time.perf_counter() - t
    finally:
        store.close()
    return {"samples": n, "seconds": elapsed, "rate": n / elapsed, "seal_share": seal_s / elapsed}


async def _serve(stop: asyncio.Event, lags: list[float]) -> int:
    """Stand-in for the HTTP server: wake every 1 ms, do a small request's worth of work."""
    body = {f"series{i}": {"value": i * 1.5, "ts": 1.7e9 + i, "unit": "ratio"} for i in range(25)}
    served = 0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.001
        await asyncio.sleep(0.001)
        lags.append(loop.time() - due)
        json.dumps(body)
        served += 1
    return served


async def _placement(store: SqliteStore, batches: list[list[Sample]], mode: str) -> dict[str, Any]:
    stop = asyncio.Event()
    lags: list[float] = []
    server = asyncio.create_task(_serve(stop, lags))
    await asyncio.sleep(0.05)
    lags.clear()
    n = 0
    t = time.perf_counter()
    for i, batch in enumerate(batches):
        if mode == "on_loop":
            n += store.append(batch)
            if seal_due(i):
                store.seal()
            await asyncio.sleep(0)
        else:
            n += await asyncio.to_thread(store.append, batch)
            if seal_due(i):
                await asyncio.to_thread(store.seal)
    elapsed = time.perf_counter() - t
    stop.set()
    served = await server
    return {
        "write_rate": n / elapsed,
        "server_ticks_per_s": served / elapsed,
        "server_lag_ms_p50": percentile(lags, 50) * 1000,
        "server_lag_ms_p99": percentile(lags, 99) * 1000,
        "server_lag_ms_max": max(lags, default=0.0) * 1000,
    }


def placement(dir_: Path, batches: list[list[Sample]], repeats: int, tag: str) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"on_loop": [], "to_thread": []}
    for r in range(repeats):
        for mode in ("on_loop", "to_thread") if r % 2 == 0 else ("to_thread", "on_loop"):
            store = SqliteStore(dir_ / f"place-{tag}-{mode}-{r}.db", seal_interval_s=SEAL_EVERY_S)
            try:
                runs[mode].append(asyncio.run(_placement(store, batches, mode)))
            finally:
                store.close()
            log(f"placement {tag} {mode}: {runs[mode][-1]['write_rate']:,.0f} samples/s")
    out: dict[str, Any] = {}
    for mode, rs in runs.items():
        out[mode] = {k: round(median([x[k] for x in rs]), 3) for k in rs[0]}
        out[mode]["write_rate"] = round(out[mode]["write_rate"])
    out["on_loop_over_thread"] = round(
        out["on_loop"]["write_rate"] / max(out["to_thread"]["write_rate"], 1), 2
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300k samples, 1 repeat (CI smoke)")
    ap.add_argument("--samples", type=int, default=None, help="per sustained run (default 2M)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats (default 3)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument(
        "--pg-admin-dsn",
        default="host=127.0.0.1 port=5432 user=postgres dbname=postgres",
        help="where to create (and drop) each run's PostgreSQL database",
    )
    args = ap.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    total = args.samples or (300_000 if args.quick else 2_000_000)
    repeats = args.repeats or (1 if args.quick else 3)
    place_total = min(total, 200_000 if args.quick else 1_000_000)
    started = time.perf_counter()
    all_cpus = os.sched_getaffinity(0)
    pin = None if args.no_pin else max(all_cpus)

    log(f"building {total:,} samples")
    batches, per_tick = build_batches(total)
    n_samples = sum(len(b) for b in batches)
    place_batches = batches[: -(-place_total // (per_tick * TICKS_PER_BATCH))]

    with temp_dir("sentra-bench-write-") as d:
        if pin is not None:
            os.sched_setaffinity(0, {pin})
        runs: dict[str, list[dict[str, float]]] = {b: [] for b in backends}
        for r in range(repeats):
            for backend in backends:
                with run_target(backend, d, args.pg_admin_dsn, r) as t:
                    runs[backend].append(sustained(t, batches))
                log(f"sustained {backend} run {r + 1}: {runs[backend][-1]['rate']:,.0f} samples/s")
        placed: dict[str, Any] = {}
        if "sqlite" in backends:
            placed["pinned_one_cpu"] = placement(d, place_batches, repeats, "pinned")
        os.sched_setaffinity(0, all_cpus)
        if len(all_cpus) > 1 and "sqlite" in backends:
            placed[f"unpinned_{len(all_cpus)}_cpus"] = placement(
                d, place_batches, repeats, "unpinned"
            )

    rates = {b: median([r["rate"] for r in rs]) for b, rs in runs.items()}
    sustained_out = {
        b: {
            "samples_per_run": n_samples,
            "repeats": repeats,
            "rates": [round(r["rate"]) for r in rs],
            "median_rate": round(rates[b]),
            "seal_time_share": round(median([r["seal_share"] for r in rs]), 3),
        }
        for b, rs in runs.items()
    }
    result = {
        "benchmark": "store_write",
        "mode": "quick" if args.quick else "default",
        "machine": machine(),
        "pinned_cpu": pin,
        "series": per_tick,
        "batch_samples": per_tick * TICKS_PER_BATCH,
        "seal_every_samples": per_tick * SEAL_EVERY_S,
        "backends": list(backends),
        # SQLite's figures where they always were; PostgreSQL's under "postgres".
        **({"sustained": sustained_out["sqlite"]} if "sqlite" in rates else {}),
        **({"postgres": {"sustained": sustained_out["postgres"]}} if "postgres" in rates else {}),
        "placement": {
            "samples_per_run": sum(len(b) for b in place_batches),
            "server": "coroutine waking every 1 ms to json.dumps a 25-entry dict",
            **placed,
        },
        "targets": {
            f"{b}_sustained_samples_per_s": target(rate, TARGET_RATE, at_most=False)
            for b, rate in rates.items()
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    parts = [
        f"{b} {rate:,.0f} samples/s ({'met' if rate >= TARGET_RATE else 'MISSED'})"
        for b, rate in rates.items()
    ]
    line = f"store_write: sustained on one CPU, target >= {TARGET_RATE:,}: {', '.join(parts)}"
    if "pinned_one_cpu" in placed:
        p = placed["pinned_one_cpu"]
        line += (
            f"; with a busy loop, on-loop {p['on_loop']['write_rate']:,} vs to_thread "
            f"{p['to_thread']['write_rate']:,} samples/s (server lag p99 "
            f"{p['on_loop']['server_lag_ms_p99']:.1f} vs "
            f"{p['to_thread']['server_lag_ms_p99']:.1f} ms)"
        )
    emit(result, line)


if __name__ == "__main__":
    main()
