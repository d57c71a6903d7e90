"""The NATS JetStream bus against the in-process bus: throughput and end-to-end latency.

Usage: .venv/bin/python bench/bus_compare.py [--quick] [--seconds S] [--clients N]
       [--rate R] [--nats-url URL]

Two measurements, each on both backends in one run (NATS at ``--nats-url``, default the
local server; a fresh stream prefix, its streams deleted afterwards):

1. ``bus``: the bus alone, in this process. A producer publishes batches of 100 samples
   (the shape of an ingest commit) to ``metrics.ingest.bench`` as fast as the consumers
   keep up (closed loop: at most 200 batches in flight), for S seconds; a live
   subscriber (no group, like the hub) and a ``store`` group member consume them.
   Throughput is samples/s received by both; latency is publish -> receipt by the live
   subscriber, measured in a second open-loop phase at 1,000 batches/s (so that queueing
   behind the closed loop does not count).
2. ``streaming_core``: bench/live_latency.py as it is (a real ``sentra up``, N WebSocket
   clients, R events/s offered through /api/v1/ingest), once with ``[bus] backend =
   "memory"`` and once with ``"nats"``: creation -> arrival at WebSocket clients.

Prints one JSON object (both backends and the nats/memory ratios) and one line.
The machine is shared (2 cores, other jobs beside it): the figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from typing import Any

import nats
import nats.js.errors

import live_latency
from _common import emit, log, machine, percentile
from sentra.bus.factory import AnyBus, build_bus, connect_bus
from sentra.bus.nats import NatsBus
from sentra.config import BusSettings
from sentra.events import Sample, Samples

BATCH = 100
IN_FLIGHT = 200
OPEN_LOOP_BATCHES_PER_S = 1000


def _batch(i: int) -> Samples:
    now = time.time()
    samples = [Sample("bench.bus", {"series": str(k % 20)}, now, float(k)) for k in range(BATCH)]
    return Samples("bench", now, samples)


async def _bus_phase(bus: AnyBus, seconds: float) -> dict[str, Any]:
    live = bus.subscribe("metrics.ingest.>", name="live", maxsize=100_000)
    store = bus.subscribe("metrics.ingest.>", name="store", maxsize=10_000, group="store")
    await connect_bus(bus)
    counts = {"live": 0, "store": 0}
    lat: list[float] = []
    measuring = [False]

    async def consume(sub: Any, key: str) -> None:
        async for _topic, event in sub:
            counts[key] += 1
            if key == "live" and measuring[0]:
                lat.append((time.time() - event.ts) * 1000)

    tasks = [
        asyncio.create_task(consume(live, "live")),
        asyncio.create_task(consume(store, "store")),
    ]
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:  # closed loop: throughput
        if sent - min(counts.values()) < IN_FLIGHT:
            bus.publish("metrics.ingest.bench", _batch(sent))
            sent += 1
        else:
            await asyncio.sleep(0.0005)
    while min(counts.values()) < sent and time.monotonic() - started < seconds + 30:
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - started
    received = min(counts.values())
    measuring[0] = True
    base = dict(counts)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < min(seconds, 5.0):  # open loop: latency
        due = t0 + n / OPEN_LOOP_BATCHES_PER_S
        if time.monotonic() < due:
            await asyncio.sleep(due - time.monotonic())
        bus.publish("metrics.ingest.bench", _batch(n))
        n += 1
    deadline = time.monotonic() + 10
    while counts["live"] - base["live"] < n and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    for t in tasks:
        t.cancel()
    await bus.close()
    return {
        "batches_sent": sent,
        "samples_per_s": round(received * BATCH / elapsed),
        "latency_ms": {
            "p50": round(percentile(lat, 50), 3),
            "p95": round(percentile(lat, 95), 3),
            "p99": round(percentile(lat, 99), 3),
            "samples": len(lat),
        },
        "open_loop_batches_per_s": OPEN_LOOP_BATCHES_PER_S,
        "dropped": getattr(bus, "dropped", 0) + live.dropped,
    }


async def _drop_streams(settings: BusSettings) -> None:
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    for name in NatsBus(settings).stream_names():
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(name)
    await nc.close()


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 s phases, 20 clients at 5,000/s")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--clients", type=int, default=None)
    ap.add_argument("--rate", type=float, default=None, help="events/s offered to the node")
    ap.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    args = ap.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    clients = args.clients or (20 if args.quick else 100)
    rate = args.rate or (5_000 if args.quick else 10_000)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    nats_settings = BusSettings(backend="nats", nats_url=args.nats_url, stream_prefix=prefix)
    out: dict[str, Any] = {"bus": {}, "streaming_core": {}}
    try:
        for backend in ("memory", "nats"):
            settings = nats_settings if backend == "nats" else BusSettings()
            log(f"bus alone, {backend}: {seconds:.0f} s")
            out["bus"][backend] = asyncio.run(_bus_phase(build_bus(settings), seconds))
        asyncio.run(_drop_streams(nats_settings))
        warmup = 1.0 if args.quick else 3.0
        live_args = argparse.Namespace(
            clients=clients, rate=rate, seconds=seconds, warmup=warmup, per_process=50,
            compression=False,
        )  # fmt: skip
        for backend in ("memory", "nats"):
            env = {"SENTRA_BUS_BACKEND": backend}
            if backend == "nats":
                env |= {"SENTRA_BUS_NATS_URL": args.nats_url, "SENTRA_BUS_STREAM_PREFIX": prefix}
            log(f"streaming core, {backend}: {clients} clients, {rate:.0f} events/s")
            out["streaming_core"][backend] = live_latency.run(live_args, extra_env=env)
    finally:
        asyncio.run(_drop_streams(nats_settings))
    bus_m, bus_n = out["bus"]["memory"], out["bus"]["nats"]
    core_m, core_n = out["streaming_core"]["memory"], out["streaming_core"]["nats"]
    ratios = {
        "bus_samples_per_s": _ratio(bus_n["samples_per_s"], bus_m["samples_per_s"]),
        "bus_latency_p95": _ratio(bus_n["latency_ms"]["p95"], bus_m["latency_ms"]["p95"]),
        "core_latency_p50": _ratio(core_n["latency_ms"]["p50"], core_m["latency_ms"]["p50"]),
        "core_latency_p95": _ratio(core_n["latency_ms"]["p95"], core_m["latency_ms"]["p95"]),
        "core_node_cpu": _ratio(core_n["node_cpu_percent"], core_m["node_cpu_percent"]),
    }
    result = {
        "benchmark": "bus_compare",
        "machine": machine(),
        "seconds": seconds,
        **out,
        "ratio_nats_over_memory": ratios,
    }
    emit(
        result,
        f"bus alone: memory {bus_m['samples_per_s']:,} samples/s p95 "
        f"{bus_m['latency_ms']['p95']} ms, nats {bus_n['samples_per_s']:,} samples/s p95 "
        f"{bus_n['latency_ms']['p95']} ms (x{ratios['bus_samples_per_s']} throughput); "
        f"streaming core ({clients} WS clients, {rate:.0f} ev/s): memory p50/p95/p99 "
        f"{core_m['latency_ms']['p50']}/{core_m['latency_ms']['p95']}/"
        f"{core_m['latency_ms']['p99']} ms, nats {core_n['latency_ms']['p50']}/"
        f"{core_n['latency_ms']['p95']}/{core_n['latency_ms']['p99']} ms "
        f"(p95 x{ratios['core_latency_p95']}), node CPU {core_m['node_cpu_percent']}% vs "
        f"{core_n['node_cpu_percent']}%",
    )


if __name__ == "__main__":
    main()
