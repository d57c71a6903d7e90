"""Failover of the rollout controller: time from the leader's death to the next decision.

Usage: .venv/bin/python bench/failover.py [--runs N] [--dsn ADMIN_DSN]

Each run: a fresh PostgreSQL database, two real ``sentra up`` nodes on it
(``[history] backend = "postgres"``), a rollout of 1 s steps applied to one of them; once
it is at its second step, the node leading it (``GET /api/v1/rollouts/NAME`` says
``leader``) is killed with SIGKILL. Measured: seconds from the kill to the first decision
the survivor records, and whether the rollout then reached ``promoted`` with every step
taken once. The survivor tries for the lease every second (``discover_s``), so about one
second is expected.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import psycopg

from _common import emit, log, machine, median, percentile, sentra_node

SPEC = """\
name: fo
target: {service: shop, stable: v1, canary: v2}
steps:
  - {weight: 10, hold: 1s}
  - {weight: 25, hold: 1s}
  - {weight: 50, hold: 1s}
  - {weight: 75, hold: 1s}
  - {weight: 100, hold: 0s}
analysis: {interval: 0.5s, window: 10s}
gates:
  - {name: errors, query: error_rate_pct, max: 5, no_data: pass}
actuator: {type: pull}
"""


@contextmanager
def database(admin: str) -> Iterator[str]:
    name = f"sentra_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait(pred, timeout: float, every: float = 0.02):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := pred():
            return value
        time.sleep(every)
    raise TimeoutError("condition not met")


def one_run(admin: str) -> dict[str, float | bool]:
    with database(admin) as dsn, ExitStack() as stack:
        env = {"SENTRA_HISTORY_BACKEND": "postgres", "SENTRA_HISTORY_POSTGRES_DSN": dsn}
        nodes = [stack.enter_context(sentra_node(extra_env=env, role="admin")) for _ in range(2)]
        clients = [httpx.Client(base_url=n.url, headers=n.headers, timeout=10) for n in nodes]
        for c in clients:
            stack.callback(c.close)
        r = clients[0].post(
            "/api/v1/rollouts", content=SPEC, headers={"Content-Type": "application/yaml"}
        )
        r.raise_for_status()

        def leader() -> int | None:
            flags = [c.get("/api/v1/rollouts/fo").json().get("leader") for c in clients]
            return flags.index(True) if flags.count(True) == 1 else None

        wait(lambda: leader() is not None, 20)
        wait(lambda: clients[0].get("/api/v1/rollouts/fo").json()["step_index"] >= 1, 30)
        lead = leader()
        assert lead is not None
        survivor = clients[1 - lead]
        killed = time.time()
        os.kill(nodes[lead].proc.pid, signal.SIGKILL)
        nodes[lead].proc.wait()

        def decisions() -> list[dict]:
            got = survivor.get("/api/v1/rollouts/fo/decisions?limit=200").json()["decisions"]
            return list(reversed(got))

        first = wait(lambda: [d for d in decisions() if d["ts"] > killed], 30, every=0.01)[0]
        wait(lambda: survivor.get("/api/v1/rollouts/fo").json()["phase"] == "promoted", 60)
        steps = [d["step_index"] for d in decisions() if d["kind"] == "step"]
        return {
            "takeover_s": round(first["ts"] - killed, 3),
            "first_kind": first["kind"],
            "no_double_step": steps == sorted(set(steps)),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--dsn",
        default=os.environ.get(
            "BENCH_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
        ),
    )
    args = ap.parse_args()
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.dsn))
        log(f"run {i + 1}/{args.runs}: {runs[-1]}")
    takeovers = [float(r["takeover_s"]) for r in runs]
    result = {
        "bench": "failover",
        "machine": machine(),
        "runs": runs,
        "takeover_s": {
            "median": round(median(takeovers), 3),
            "p95": round(percentile(takeovers, 95), 3),
            "max": round(max(takeovers), 3),
        },
        "every_run_promoted_without_double_step": all(r["no_double_step"] for r in runs),
    }
    emit(
        result,
        f"failover: leader killed -> next decision on the other node: median "
        f"{result['takeover_s']['median']} s, max {result['takeover_s']['max']} s over "
        f"{len(runs)} runs; no double step: {result['every_run_promoted_without_double_step']}",
    )


if __name__ == "__main__":
    main()
