"""Reaction time of the rollout guard: from the moment a canary starts failing to the
actuator's rollback call.

A real ``sentra up``; a rollout with the seed's policy (``slo:`` p95 ≤ 120 ms, error rate
≤ 0.5 %, 2 consecutive breaches, 60 s window) at analysis interval 2 s and a webhook
actuator pointing at a recorder in this process; synthetic OTLP traffic (200 requests/s,
v1 and v2 healthy) split by the rollout's weights. After a healthy spell of random length
the canary turns bad (30 % errors, 4x latency); the time until the recorder receives the
call that sets the canary's weight to 0 is one sample. Repeated ``--runs`` times.

    .venv/bin/python bench/rollout_reaction.py [--runs 12] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, log, machine, median, percentile, sentra_node, target

from tests.traffic import Behaviour, Traffic

SPEC = """\
name: {name}
target: {{service: shop, stable: v1, canary: v2}}
steps: [{{weight: 20, hold: 10m}}, {{weight: 100, hold: 0s}}]
analysis: {{interval: {interval}s}}
slo: {{latency_p95_ms: 120, error_rate_pct: 0.5}}
rollout_gates: {{consecutive_breaches_to_rollback: 2, evaluation_window_sec: 60}}
actuator: {{type: webhook, url: "{hook}"}}
"""


class Recorder(BaseHTTPRequestHandler):
    calls: list[tuple[float, dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        Recorder.calls.append((time.time(), json.loads(body or b"{}")))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def rollback_after(name: str, since: float, deadline: float) -> float | None:
    while time.time() < deadline:
        for ts, body in list(Recorder.calls):
            weights = body.get("weights", {})
            if body.get("rollout") == name and ts >= since and weights.get("canary") == 0:
                return ts
        time.sleep(0.01)
    return None


def one_run(node, hook: str, i: int, interval: float, rng: random.Random) -> float | None:
    name = f"react-{i}"
    client = httpx.Client(base_url=node.url, headers=node.headers, timeout=10)
    resp = client.post(
        "/api/v1/rollouts",
        content=SPEC.format(name=name, interval=interval, hook=hook),
        headers={"Content-Type": "application/yaml"},
    )
    resp.raise_for_status()
    traffic = Traffic(
        node.url,
        node.token,
        name,
        "shop",
        {"stable": "v1", "canary": "v2"},
        {"v1": Behaviour(error_rate=0.001), "v2": Behaviour(error_rate=0.001)},
        rate=200,
    ).start()
    try:
        time.sleep(3 + rng.random() * interval)  # healthy spell, random phase vs the ticks
        failed_at = time.time()
        traffic.behaviour["v2"] = Behaviour(error_rate=0.3, latency_ms=160)
        done = rollback_after(name, failed_at, failed_at + 60)
    finally:
        traffic.stop()
    info = client.get(f"/api/v1/rollouts/{name}").json()
    phase = f"{info['phase']}: {info['message']}"
    client.close()
    if done is None:
        log(f"run {i}: no rollback within 60 s (phase {phase})")
        return None
    log(f"run {i}: rollback call {done - failed_at:.2f} s after the canary began failing")
    return done - failed_at


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--quick", action="store_true", help="3 runs")
    args = ap.parse_args()
    runs = 3 if args.quick else args.runs
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/weights"
    rng = random.Random(11)
    times: list[float] = []
    missed = 0
    with sentra_node(role="operator", extra_env={"SENTRA_COLLECT_GPU": "off"}) as node:
        for i in range(runs):
            took = one_run(node, hook, i, args.interval, rng)
            if took is None:
                missed += 1
            else:
                times.append(took)
    server.shutdown()
    p95 = percentile(times, 95)
    result = {
        "benchmark": "rollout_reaction",
        "runs": runs,
        "missed": missed,
        "interval_s": args.interval,
        "consecutive_breaches": 2,
        "reaction_s": {
            "min": round(min(times), 3) if times else None,
            "median": round(median(times), 3),
            "p95": round(p95, 3),
            "max": round(max(times), 3) if times else None,
        },
        "p95": target(p95, 10.0, unit="s"),
        "machine": machine(),
    }
    emit(
        result,
        f"rollout reaction: median {median(times):.2f} s, p95 {p95:.2f} s over {len(times)} runs "
        f"(target p95 <= 10 s; interval {args.interval:g} s, 2 breaches), missed {missed}",
    )


if __name__ == "__main__":
    main()
