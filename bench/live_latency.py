"""End-to-end latency of the live stream: event creation -> arrival at WebSocket clients.

Usage: .venv/bin/python bench/live_latency.py [--clients N] [--rate R] [--seconds S]
                                              [--per-process K] [--compression]

Starts ``sentra up`` (fresh data dir, collectors at 1 s as in production). N WebSocket
clients (``websockets``, asyncio, K per process) subscribe with
``?kinds=metrics&source=ingest&name=bench.latency``. A load-generator process POSTs
``/api/v1/ingest`` (operator token) open-loop: R events/s in batches of 100 every
100/R s, each metric's ``value`` and ``ts`` being its send time (its creation time). Every
10th client is a probe that decodes each frame and records arrival - creation per item;
the others only count frames, bytes and the ``dropped`` field (decoding 10k events/s in
100 Python clients would measure the clients, not the node). The clients run on the same
2 cores as the node, so their CPU competes with it: the figures are an upper bound.

Reports p50/p95/p99/max latency (ms) over the measured window, events/s delivered per
client, the node's CPU %, frames dropped and clients disconnected. Target at 100 clients and
10,000 events/s: p95 <= 50 ms, p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import subprocess
import time
from typing import Any

import httpx
import msgspec

from _common import (
    VENV_BIN,
    cpu_seconds,
    emit,
    log,
    machine,
    percentile,
    sentra_node,
    target,
)

NAME = "bench.latency"
BATCH = 100
TARGET_P95_MS = 50.0
TARGET_P99_MS = 100.0
_DROPPED = re.compile(rb'"dropped":(\d+)')


class _Sample(msgspec.Struct):
    value: float


class _Item(msgspec.Struct):
    kind: str
    samples: list[_Sample] = []


class _Msg(msgspec.Struct):
    type: str
    dropped: int = 0
    items: list[_Item] = []


def client_process(
    url: str,
    n: int,
    first: int,
    compression: bool,
    ready: Any,
    go: Any,
    window: Any,
    out: Any,
) -> None:
    """Runs in its own process: ``n`` WebSocket clients; probes record latencies."""
    import websockets

    decode = msgspec.json.Decoder(_Msg).decode

    async def one(i: int, stats: dict[str, Any], lat: list[float], t: list[float]) -> None:
        probe = (first + i) % 10 == 0
        async with websockets.connect(
            url,
            max_size=None,
            compression="deflate" if compression else None,
            open_timeout=60,
            ping_interval=None,
        ) as ws:
            stats["connected"] += 1
            try:
                async for raw in ws:
                    now = time.time()
                    data = raw.encode() if isinstance(raw, str) else raw
                    stats["frames"] += 1
                    stats["bytes"] += len(data)
                    m = _DROPPED.search(data, 0, 200)
                    if m:
                        stats["dropped"] += int(m.group(1))
                    if probe and t[0] <= now <= t[1]:
                        msg = decode(data)
                        for item in msg.items:
                            for s in item.samples:
                                lat.append((now - s.value) * 1000)
                        stats["probe_events"] += sum(len(it.samples) for it in msg.items)
            except websockets.ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code != 1000:
                    stats["closed"].append(f"{exc.rcvd.code} {exc.rcvd.reason}")

    async def main() -> None:
        stats: dict[str, Any] = {
            "connected": 0,
            "frames": 0,
            "bytes": 0,
            "dropped": 0,
            "probe_events": 0,
            "closed": [],
        }
        lat: list[float] = []
        t = [float("inf"), float("inf")]
        tasks = []
        for i in range(n):
            tasks.append(asyncio.create_task(one(i, stats, lat, t)))
            if i % 20 == 19:
                await asyncio.sleep(0.05)
        while stats["connected"] < n:
            await asyncio.sleep(0.05)
        ready.put(n)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, go.wait)
        t0, t1 = window.get() if hasattr(window, "get") else (0, 0)
        t[0], t[1] = t0, t1
        start_frames, start_bytes = stats["frames"], stats["bytes"]
        while time.time() < t1:
            await asyncio.sleep(0.1)
        frames, nbytes = stats["frames"] - start_frames, stats["bytes"] - start_bytes
        await asyncio.sleep(1.5)  # stay connected while the node's figures are read
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        out.put(
            {
                "clients": n,
                "frames": frames,
                "bytes": nbytes,
                "dropped": stats["dropped"],
                "probe_events": stats["probe_events"],
                "probes": sum(1 for i in range(n) if (first + i) % 10 == 0),
                "closed": stats["closed"],
                "latencies": lat,
            }
        )

    asyncio.run(main())


def load_process(url: str, token: str, rate: float, t_end: float, out: Any) -> None:
    """Runs in its own process: open-loop batches of BATCH events, value = ts = send time."""

    async def main() -> None:
        interval = BATCH / rate
        sent = ok = refused = 0
        inflight: set[asyncio.Task[None]] = set()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        limits = httpx.Limits(max_connections=8)
        async with httpx.AsyncClient(
            base_url=url, headers=headers, timeout=10, limits=limits
        ) as http:

            async def post(body: bytes) -> None:
                nonlocal ok, refused
                try:
                    r = await http.post("/api/v1/ingest", content=body)
                    ok += r.status_code < 300
                    refused += r.status_code >= 300
                except httpx.HTTPError:
                    refused += 1

            t0 = time.perf_counter()
            i = 0
            while time.time() < t_end:
                due = t0 + i * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if len(inflight) >= 8:  # the node is not keeping up: skip, do not pile up
                    i += 1
                    continue
                now = time.time()
                body = msgspec.json.encode(
                    {
                        "metrics": [
                            {
                                "name": NAME,
                                "value": now,
                                "ts": now,
                                "labels": {"slot": str(k % 10)},
                            }
                            for k in range(BATCH)
                        ]
                    }
                )
                task = asyncio.create_task(post(body))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                sent += BATCH
                i += 1
            await asyncio.gather(*inflight, return_exceptions=True)
        out.put({"events_sent": sent, "batches_ok": ok, "batches_refused": refused})

    asyncio.run(main())


def _scrape(url: str, headers: dict[str, str]) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", headers=headers, timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("sentra_live_") or line.startswith(
            'sentra_bus_dropped_total{subscriber="live'
        ):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def run(args: argparse.Namespace, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """One measurement; ``extra_env`` configures the node (bench/bus_compare.py: the bus)."""
    with sentra_node(sample_interval=1.0, extra_env=extra_env) as node:
        operator = (
            subprocess.run(
                [
                    str(VENV_BIN / "sentra"),
                    "token",
                    "create",
                    "--name",
                    "load",
                    "--role",
                    "operator",
                    "--data-dir",
                    str(node.data_dir),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        ws_url = (
            node.url.replace("http://", "ws://")
            + f"/api/v1/live?access_token={node.token}&kinds=metrics&source=ingest&name={NAME}"
        )
        ctx = mp.get_context("spawn")
        ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        windows = []
        procs = []
        per = args.per_process
        for first in range(0, args.clients, per):
            n = min(per, args.clients - first)
            w = ctx.Queue()
            windows.append(w)
            p = ctx.Process(
                target=client_process,
                args=(ws_url, n, first, args.compression, ready, go, w, out),
                daemon=True,
            )
            p.start()
            procs.append(p)
        connected = 0
        deadline = time.monotonic() + 120
        while connected < args.clients:
            connected += ready.get(timeout=max(1, deadline - time.monotonic()))
        log(f"{connected} clients connected in {len(procs)} processes")
        t_start = time.time() + args.warmup
        t_end = t_start + args.seconds
        for w in windows:
            w.put((t_start, t_end))
        go.set()
        load_out = ctx.Queue()
        loader = ctx.Process(
            target=load_process, args=(node.url, operator, args.rate, t_end, load_out), daemon=True
        )
        loader.start()
        time.sleep(max(0.0, t_start - time.time()))
        before = _scrape(node.url, node.headers)
        cpu0, wall0 = cpu_seconds(node.proc.pid), time.monotonic()
        time.sleep(max(0.0, t_end - time.time()))
        cpu1, wall1 = cpu_seconds(node.proc.pid), time.monotonic()
        after = _scrape(node.url, node.headers)
        load = load_out.get(timeout=60)
        results = [out.get(timeout=60) for _ in procs]
        loader.join(10)
        for p in procs:
            p.join(10)
    lat = [x for r in results for x in r["latencies"]]
    probes = sum(r["probes"] for r in results)
    probe_events = sum(r["probe_events"] for r in results)
    seconds = args.seconds
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    stats = {
        "p50": round(percentile(lat, 50), 2),
        "p95": round(percentile(lat, 95), 2),
        "p99": round(percentile(lat, 99), 2),
        "max": round(max(lat), 2) if lat else None,
        "samples": len(lat),
    }
    return {
        "clients": args.clients,
        "offered_events_per_s": args.rate,
        "sent_events_per_s": round(load["events_sent"] / (seconds + args.warmup), 1),
        "load": load,
        "latency_ms": stats,
        "delivered_events_per_s_per_client": round(probe_events / max(probes, 1) / seconds, 1),
        "frames_per_s_per_client": round(
            sum(r["frames"] for r in results) / args.clients / seconds, 1
        ),
        "bytes_per_s_all_clients": round(sum(r["bytes"] for r in results) / seconds),
        "node_cpu_percent": round((cpu1 - cpu0) / (wall1 - wall0) * 100, 1),
        "client_dropped_frames": sum(r["dropped"] for r in results),
        "clients_closed": [c for r in results for c in r["closed"]][:5],
        "node_live_metrics_delta": delta,
        "compression": args.compression,
        "targets": {
            "p95_ms": target(stats["p95"], TARGET_P95_MS, unit="ms"),
            "p99_ms": target(stats["p99"], TARGET_P99_MS, unit="ms"),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rate", type=float, default=10_000, help="events/s offered")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--per-process", type=int, default=50, help="clients per process")
    ap.add_argument(
        "--compression", action="store_true", help="offer permessage-deflate like browsers do"
    )
    args = ap.parse_args()
    res = run(args)
    result = {"bench": "live_latency", "machine": machine(), **res}
    lat = res["latency_ms"]
    emit(
        result,
        f"live: {args.clients} WS clients, {res['sent_events_per_s']:.0f} ev/s sent -> "
        f"p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; "
        f"{res['delivered_events_per_s_per_client']} ev/s per client; "
        f"node CPU {res['node_cpu_percent']}%; dropped {res['client_dropped_frames']} frames "
        f"(target p95 <= {TARGET_P95_MS:g} ms: "
        f"{'met' if res['targets']['p95_ms']['met'] else 'MISSED'}, "
        f"p99 <= {TARGET_P99_MS:g} ms: {'met' if res['targets']['p99_ms']['met'] else 'MISSED'})",
    )


if __name__ == "__main__":
    main()
