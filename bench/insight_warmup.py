"""Insight on a freshly started node: what the API says in its first minutes.

Usage: .venv/bin/python bench/insight_warmup.py [--seconds 150] [--every 5]

Starts a real ``sentra up`` with a fresh data dir (collectors at 1 s, insight written every
second), reads ``GET /api/v1/insight`` every ``--every`` seconds and records, per read, the
node's stability, how many of its series are anomalous and how many are still learning.
A baseline that has seen a few seconds of a series knows nothing yet: the target is no
anomalous series and no stability figure (``null``: learning) during the warm-up.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from _common import emit, log, machine, sentra_node, target


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=150.0)
    p.add_argument("--every", type=float, default=5.0)
    args = p.parse_args()
    env = {"SENTRA_INSIGHT_EMIT_INTERVAL_S": "1"}
    reads: list[dict[str, Any]] = []
    with sentra_node(sample_interval=1.0, extra_env=env) as node:
        started = time.monotonic()
        with httpx.Client(base_url=node.url, headers=node.headers, timeout=10) as client:
            while (elapsed := time.monotonic() - started) < args.seconds:
                body = client.get("/api/v1/insight").json()
                host = next((h for h in body["hosts"] if h["host"] == body["host"]), None)
                if host is not None:
                    row = {
                        "t_s": round(elapsed, 1),
                        "series": host["series"],
                        "stability": host["stability"],
                        "anomalous": len(host["anomalous"]),
                        "learning": host.get("learning"),
                    }
                    reads.append(row)
                    log(str(row))
                time.sleep(args.every)
    flagged = max((r["anomalous"] for r in reads), default=0)
    scored = [r["stability"] for r in reads if r["stability"] is not None]
    result = {
        "bench": "insight_warmup",
        "machine": machine(),
        "seconds": args.seconds,
        "reads": reads,
        "max_anomalous": flagged,
        "min_stability": min(scored) if scored else None,
        "targets": {"no_anomalous_while_learning": target(flagged, 0)},
    }
    emit(
        result,
        f"insight warm-up: {len(reads)} reads over {args.seconds:g} s, at most {flagged} "
        f"series anomalous, lowest stability {result['min_stability']}",
    )


if __name__ == "__main__":
    main()
