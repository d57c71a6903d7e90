"""Agent fan-in: samples/s one server sustains from many agents, and its CPU per agent.

Usage: .venv/bin/python bench/agent_fanin.py [--quick] [--seconds S] [--agents N]
       [--procs P]

Starts ``sentra up`` (its own collectors on, 1 s), then N simulated agents spread over P
processes. Each agent is what ``sentra agent`` does on the wire, with the agent's own code:
its own ``Pusher`` (one httpx.AsyncClient, so one keep-alive connection per agent) sends,
once a second on the aligned tick, one batch built by ``encode_batch`` (MessagePack, a
``host=sim-<i>`` label and a stable id per sample) from ``bench/_hostsim.py``'s real-looking
host series (~64 series: CPU per core, memory, filesystems, disks, NICs, sensors), and a
heartbeat every 5 s. The disk spool is left out: it costs the agent, not the server.
Reported: samples/s offered and accepted (2xx), push latency percentiles, ticks missed
(an agent still waiting for its previous answer when the next tick comes), server CPU
from /proc of its pid over the measured window, and that CPU divided by the agents.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import time
from typing import Any

from _common import cpu_seconds, emit, log, machine, memory_kib, percentile, sentra_node
from _hostsim import HostSim, ticks
from sentra.agent.push import Pusher, Retry
from sentra.agent.runner import encode_batch


async def _agent(
    i: int, url: str, token: str, t0: float, seconds: int, stats: dict[str, Any]
) -> None:
    sim = HostSim(seed=1000 + i, cores=4 + i % 8)
    values = sim.generate(max(seconds + 2, 3600), t0=t0)  # its filters need an hour
    pusher = Pusher(url, token)
    host = f"sim-{i:03d}"
    offset = (i % 20) * 0.01  # agents' clocks are not in lockstep
    try:
        for k, (ts, samples) in enumerate(ticks(sim.specs, values, t0, stop=seconds)):
            delay = ts + offset - time.time()
            if delay < 0:
                stats["missed"] += 1
                continue
            await asyncio.sleep(delay)
            body = encode_batch(samples, host, f"{host}-{k}")
            stats["offered"] += len(samples)
            started = time.perf_counter()
            try:
                sent = await pusher.send(body)
            except Retry:
                stats["errors"] += 1
                continue
            stats["latency_ms"].append((time.perf_counter() - started) * 1000)
            stats["accepted"] += sent.accepted
            if k % 5 == 0:
                beat = {"id": host, "hostname": host, "version": "bench", "interval_s": 5.0}
                try:
                    await pusher.heartbeat(beat)
                except Retry:
                    stats["errors"] += 1
    finally:
        await pusher.close()


def _process(
    first: int, count: int, url: str, token: str, t0: float, seconds: int, out: Any
) -> None:
    stats: dict[str, Any] = {"offered": 0, "accepted": 0, "errors": 0, "missed": 0}
    stats["latency_ms"] = []
    cpu0 = time.process_time()

    async def run() -> None:
        await asyncio.gather(
            *(_agent(first + j, url, token, t0, seconds, stats) for j in range(count))
        )

    asyncio.run(run())
    out.put({**stats, "cpu_s": time.process_time() - cpu0})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="15 s instead of 60 s")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--procs", type=int, default=2, help="processes the agents are spread over")
    args = ap.parse_args()
    seconds = args.seconds or (15 if args.quick else 60)
    warmup = 3  # agents start, connections open, series are created
    ctx = mp.get_context("spawn")
    with sentra_node(role="operator") as node:
        pid = node.proc.pid
        results: Any = ctx.Queue()
        t0 = math.ceil(time.time()) + 3  # the first tick: once every process is running
        per = -(-args.agents // args.procs)
        procs = [
            ctx.Process(
                target=_process,
                args=(
                    p * per,
                    min(per, args.agents - p * per),
                    node.url,
                    node.token,
                    t0,
                    seconds,
                    results,
                ),
            )
            for p in range(args.procs)
            if p * per < args.agents
        ]
        log(f"{args.agents} agents in {len(procs)} processes, 1 batch/s each, {seconds} s")
        for p in procs:
            p.start()
        time.sleep(max(t0 + warmup - time.time(), 0))
        cpu0, w0 = cpu_seconds(pid), time.monotonic()
        while time.time() < t0 + seconds - 1:
            time.sleep(0.5)
        cpu, window = cpu_seconds(pid) - cpu0, time.monotonic() - w0
        got = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        peak = memory_kib(pid)["VmHWM"]
    offered = sum(g["offered"] for g in got)
    accepted = sum(g["accepted"] for g in got)
    lat = [x for g in got for x in g["latency_ms"]]
    cpu_pct = 100 * cpu / window
    rate = accepted / seconds
    result = {
        "benchmark": "agent_fanin",
        "mode": "quick" if args.quick else "default",
        "machine": machine(),
        "load": {
            "agents": args.agents,
            "processes": len(procs),
            "seconds": seconds,
            "series_per_agent_avg": round(offered / max(seconds * args.agents, 1), 1),
            "what": "each agent: its own httpx client (keep-alive), one MessagePack batch "
            "per aligned 1 s tick (encode_batch, stable ids, host label), a heartbeat "
            "every 5 s; server's own collectors on",
        },
        "samples_per_s_offered": round(offered / seconds),
        "samples_per_s_accepted": round(rate),
        "accepted_ratio": round(accepted / max(offered, 1), 4),
        "push_latency_ms": {
            "p50": round(percentile(lat, 50), 2),
            "p95": round(percentile(lat, 95), 2),
            "p99": round(percentile(lat, 99), 2),
            "max": round(max(lat, default=math.nan), 2),
        },
        "ticks_missed": sum(g["missed"] for g in got),
        "errors": sum(g["errors"] for g in got),
        "server_cpu_percent": round(cpu_pct, 1),
        "server_cpu_percent_per_agent": round(cpu_pct / max(args.agents, 1), 3),
        "server_cpu_window_s": round(window, 1),
        "server_peak_rss_mb": round(peak / 1024, 1),
        "agents_cpu_percent": round(100 * sum(g["cpu_s"] for g in got) / seconds, 1),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    emit(
        result,
        f"agent fan-in: {args.agents} agents, {rate:,.0f} samples/s accepted of "
        f"{offered / seconds:,.0f} offered, push p95 {result['push_latency_ms']['p95']} ms, "
        f"server CPU {cpu_pct:.1f}% ({result['server_cpu_percent_per_agent']}% per agent), "
        f"missed ticks {result['ticks_missed']}, errors {result['errors']}",
    )


if __name__ == "__main__":
    main()
