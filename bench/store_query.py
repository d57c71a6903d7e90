"""History query latency of SqliteStore over 15 minutes, 24 hours and 30 days.

Usage: .venv/bin/python bench/store_query.py [--quick] [--days D] [--rounds R]

Data set (built through SqliteStore.append + seal in simulated time, as a node would):
DAYS of 1 s host telemetry (bench/_hostsim.py, one simulated day at a time) for the queried
series ``system.cpu.utilization{cpu="0"}`` and 3 neighbours, plus 16 more host series for
the last day only (52 M samples for 20 series x 30 days would take too long to build; the
b-trees are keyed by series first, so series not read add little). Seals every 600 s; the
last 300 s stay unsealed in the head, as they would on a live node.

Queries, each ``history(..., limit=1000, now=...)`` like the dashboard's, with the window
end jittered inside the last minute: last 15 min (raw chunks + head), 24 h and 30 days
(both <= 1,000 points, answered from rollups). R rounds; p50/p95/p99 are the medians over
rounds. Targets: 24 h p95 <= 30 ms, 30 d p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from _common import emit, log, machine, median, percentile, target, temp_dir
from _hostsim import HostSim, ticks
from sentra.events import Sample, series_key
from sentra.store.sqlite import SqliteStore

T0 = 1_700_000_400.0
DAY = 86_400
SEAL_EVERY_S = 600
HEAD_S = 300
TICKS_PER_BATCH = 40
QUERIED = ("system.cpu.utilization", {"cpu": "0"})
LONG = [  # 30 days: the queried series and three neighbours
    ("system.cpu.utilization", {"cpu": "0"}),
    ("system.cpu.utilization", {"cpu": "1"}),
    ("system.cpu.utilization", {"cpu": "total"}),
    ("system.memory.usage", {"state": "used"}),
]
TARGETS_MS = {"24h": 30.0, "30d": 50.0}


def _rows(sim: HostSim, wanted: list[tuple[str, dict[str, str]]] | None) -> list[int]:
    keys = [(s.name, s.labels) for s in sim.specs]
    if wanted is None:
        return list(range(len(keys)))
    return [keys.index(w) for w in wanted]


def build(path: Path, days: int, recent_s: int) -> dict[str, Any]:
    """Fill a store: LONG series for ``days``, 16 more for the last ``recent_s`` seconds."""
    sim = HostSim()
    long_rows = _rows(sim, LONG)
    others = [i for i in range(len(sim.specs)) if i not in long_rows][:16]
    total_s = days * DAY + HEAD_S
    store = SqliteStore(path, seal_interval_s=SEAL_EVERY_S, max_head_rows=10_000_000)
    samples = 0
    t = time.perf_counter()
    try:
        for day in range(days + 1):
            start = day * DAY
            n = min(DAY, total_s - start)
            if n <= 0:
                break
            day_sim = HostSim(seed=1000 + day)
            values = day_sim.generate(n, t0=T0 + start)
            rows = long_rows + [i for i in others if start + n > total_s - recent_s]
            specs = [day_sim.specs[i] for i in rows]
            batch: list[Sample] = []
            for k, (ts, tick) in enumerate(ticks(specs, values[rows], T0 + start)):
                if ts < T0 + total_s - recent_s:
                    tick = tick[: len(long_rows)]
                batch.extend(tick)
                sec = start + k + 1
                if len(batch) >= 64 * TICKS_PER_BATCH or sec % SEAL_EVERY_S == 0:
                    samples += store.append(batch)
                    batch = []
                if sec % SEAL_EVERY_S == 0:
                    store.seal()
            if batch:
                samples += store.append(batch)
            log(f"built {min(day + 1, days)} of {days} days: {samples:,} samples")
        stats = store.stats()
    finally:
        store.close()
    return {
        "days": days,
        "series_30d": len(LONG),
        "series_recent_only": len(others),
        "recent_only_seconds": recent_s,
        "raw_samples": samples,
        "chunks": stats.chunks,
        "rollup_rows": stats.rollup_rows,
        "head_rows": stats.head_rows,
        "db_bytes": stats.db_bytes,
        "build_seconds": round(time.perf_counter() - t, 1),
        "now": T0 + total_s,
    }


def measure(
    store: SqliteStore, now: float, span: float, iterations: int, rng: random.Random
) -> tuple[list[float], dict[str, Any]]:
    name, labels = QUERIED
    times: list[float] = []
    shape: dict[str, Any] = {}
    for _ in range(iterations):
        end = now - rng.uniform(0, 60)
        t = time.perf_counter()
        res = store.history(name, labels, end - span, end, limit=1000, now=now)
        times.append((time.perf_counter() - t) * 1000)
        pts = len(res.series[0].ts)
        shape = {"tier": res.tier, "granularity_s": res.granularity, "points": pts}
    return times, shape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 days of data, 1 round (CI smoke)")
    ap.add_argument("--days", type=int, default=None, help="days of data (default 30)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of queries (default 3)")
    ap.add_argument("--iterations", type=int, default=None, help="queries per round (100)")
    args = ap.parse_args()
    days = args.days or (2 if args.quick else 30)
    rounds = args.rounds or (1 if args.quick else 3)
    iterations = args.iterations or (30 if args.quick else 100)
    recent_s = 2 * 3600 if args.quick else DAY
    started = time.perf_counter()
    spans = {"15m": 900.0, "24h": float(DAY), "30d": 30.0 * DAY}
    per_round: dict[str, list[dict[str, float]]] = {k: [] for k in spans}
    shapes: dict[str, Any] = {}
    with temp_dir("sentra-bench-query-") as d:
        path = d / "sentra.db"
        data = build(path, days, recent_s)
        store = SqliteStore(path, seal_interval_s=SEAL_EVERY_S, max_head_rows=10_000_000)
        try:
            rng = random.Random(1)
            for span in spans.values():  # warm-up: the page cache, numpy, connections
                measure(store, data["now"], span, 3, rng)
            for r in range(rounds):
                for key, span in spans.items():
                    times, shapes[key] = measure(store, data["now"], span, iterations, rng)
                    per_round[key].append(
                        {
                            p: percentile(times, q)
                            for p, q in (("p50", 50), ("p95", 95), ("p99", 99))
                        }
                        | {"max": max(times)}
                    )
                log(
                    f"round {r + 1}: "
                    + ", ".join(f"{k} p95 {v[-1]['p95']:.1f} ms" for k, v in per_round.items())
                )
        finally:
            store.close()
    latency = {
        k: {stat: round(median([x[stat] for x in rs]), 2) for stat in ("p50", "p95", "p99", "max")}
        | shapes[k]
        for k, rs in per_round.items()
    }
    result = {
        "benchmark": "store_query",
        "mode": "quick" if args.quick else "default",
        "machine": machine(),
        "data": data,
        "query": {
            "series": series_key(*QUERIED),
            "limit": 1000,
            "rounds": rounds,
            "iterations_per_round": iterations,
            "note": "store.history() in-process (no HTTP/JSON); stats are medians over rounds",
        },
        "latency_ms": latency,
        "targets": {
            f"{k}_p95_ms": target(latency[k]["p95"], v, unit="ms") for k, v in TARGETS_MS.items()
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    met = all(t["met"] for t in result["targets"].values())
    emit(
        result,
        f"store_query over {days} d: p95 15m {latency['15m']['p95']:.1f} ms, "
        f"24h {latency['24h']['p95']:.1f} ms (<= 30), 30d {latency['30d']['p95']:.1f} ms "
        f"(<= 50): {'all targets met' if met else 'TARGET MISSED'}",
    )


if __name__ == "__main__":
    main()
