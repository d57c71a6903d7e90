"""Latency of GET /api/telemetry/summary on a real node at a steady 200 requests/s.

Usage: .venv/bin/python bench/api_summary.py [--quick] [--rate R] [--seconds S] [--runs N]

Starts ``sentra up`` (fresh temp data dir, free port, SENTRA_SAMPLE_INTERVAL=1: collectors
and history writes running as in production), waits until the summary holds readings, then
drives it from a separate process: one httpx client with keep-alive, open-loop pacing
(request i is due at t0 + i/R whatever happened before). Latency is measured from the
moment a request is sent (``service``) and, to show any coordinated omission, from the
moment it was due (``from_due``; equal when the client kept pace). N runs of S seconds;
percentiles are medians over runs. Target: service p99 <= 5 ms.

In-run baseline: before each node run, the same client spends up to 10 s against a
framework-free asyncio server (another process) returning the same bytes, so the client's
own cost and the machine's noise can be told apart from the node's. When ``wrk`` is
installed, a closed-loop single-connection wrk run is added as a second view.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from typing import Any

import httpx

from _common import (
    cpu_seconds,
    emit,
    free_port,
    log,
    machine,
    median,
    percentile,
    sentra_node,
    target,
    wait_http,
    wrk_view,
)

TARGET_P99_MS = 5.0


def paced_client(url: str, headers: dict[str, str], rate: float, seconds: float) -> dict[str, Any]:
    """Runs in its own process: open-loop GETs at ``rate``/s for ``seconds``."""
    service: list[float] = []
    from_due: list[float] = []
    errors: dict[str, int] = {}
    interval = 1.0 / rate
    with httpx.Client(headers=headers, timeout=5.0, trust_env=False) as client:
        client.get(url)  # open the keep-alive connection before the clock starts
        t0 = time.perf_counter() + 0.1
        for i in range(int(rate * seconds)):
            due = t0 + i * interval
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            sent = time.perf_counter()
            try:
                r = client.get(url)
                ok = r.status_code == 200 and len(r.content) > 2
                if not ok:
                    errors[f"HTTP {r.status_code}"] = errors.get(f"HTTP {r.status_code}", 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            done = time.perf_counter()
            service.append((done - sent) * 1000)
            from_due.append((done - due) * 1000)
        elapsed = time.perf_counter() - t0
    return {"service": service, "from_due": from_due, "errors": errors, "elapsed": elapsed}


def baseline_server(port: int, body: bytes) -> None:
    """Runs in its own process: a framework-free asyncio HTTP/1.1 keep-alive server that
    answers every request with ``body``; the floor of client + loopback + Python here."""
    import asyncio

    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def _stats(xs: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(xs, 50),
        "p95": percentile(xs, 95),
        "p99": percentile(xs, 99),
        "max": max(xs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 run of 5 s (CI smoke)")
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (200)")
    ap.add_argument("--seconds", type=float, default=None, help="per run (default 30)")
    ap.add_argument("--runs", type=int, default=None, help="runs (default 3)")
    ap.add_argument("--no-wrk", action="store_true", help="skip the wrk view")
    args = ap.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    runs = args.runs or (1 if args.quick else 3)
    started = time.perf_counter()
    base_s = min(seconds, 10.0)
    results: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    node_cpu: list[float] = []
    with sentra_node(sample_interval=1.0) as node:
        url = f"{node.url}/api/telemetry/summary"
        deadline = time.monotonic() + 20
        body = b""
        while time.monotonic() < deadline:  # readings arrive after the first ticks
            body = httpx.get(url, headers=node.headers, trust_env=False).content
            if len(body) > 200:
                break
            time.sleep(0.2)
        time.sleep(2)
        ctx = mp.get_context("spawn")
        port = free_port()
        floor = ctx.Process(target=baseline_server, args=(port, body), daemon=True)
        floor.start()
        try:
            wait_http(f"http://127.0.0.1:{port}/", timeout=20)
            with ctx.Pool(1) as pool:
                for r in range(runs):
                    res = pool.apply(
                        paced_client, (f"http://127.0.0.1:{port}/", {}, args.rate, base_s)
                    )
                    baseline.append(res)
                    c0 = cpu_seconds(node.proc.pid)
                    res = pool.apply(paced_client, (url, node.headers, args.rate, seconds))
                    node_cpu.append((cpu_seconds(node.proc.pid) - c0) / res["elapsed"] * 100)
                    results.append(res)
                    s, b = _stats(res["service"]), _stats(baseline[-1]["service"])
                    log(
                        f"run {r + 1}: p50 {s['p50']:.2f} p99 {s['p99']:.2f} max {s['max']:.1f} "
                        f"ms (baseline p50 {b['p50']:.2f} p99 {b['p99']:.2f})"
                    )
        finally:
            floor.kill()
            floor.join(5)
        wrk = None if args.no_wrk else wrk_view(url, node.token, 3 if args.quick else 10)
        if node.proc.poll() is not None:
            raise RuntimeError("sentra exited during the benchmark")

    per_run = [_stats(r["service"]) for r in results]
    service = {k: round(median([s[k] for s in per_run]), 3) for k in per_run[0]}
    base_runs = [_stats(r["service"]) for r in baseline]
    floor_ms = {k: round(median([s[k] for s in base_runs]), 3) for k in base_runs[0]}
    due_runs = [_stats(r["from_due"]) for r in results]
    from_due = {k: round(median([s[k] for s in due_runs]), 3) for k in due_runs[0]}
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    sent = sum(len(r["service"]) for r in results)
    achieved = median([len(r["service"]) / r["elapsed"] for r in results])
    result = {
        "benchmark": "api_summary",
        "mode": "quick" if args.quick else "default",
        "machine": machine(),
        "load": {
            "rate_per_s": args.rate,
            "achieved_rate_per_s": round(achieved, 1),
            "seconds_per_run": seconds,
            "runs": runs,
            "requests": sent,
            "errors": errors,
            "client": "httpx.Client, keep-alive, separate process, open-loop pacing",
            "response_bytes": len(body),
        },
        "latency_ms_service": service,
        "latency_ms_from_due": from_due,
        "baseline_latency_ms_service": floor_ms,
        "baseline": (
            f"same paced client, {base_s:g} s per run before each node run, against a "
            "framework-free asyncio server in another process returning the same bytes: "
            "the floor that client, loopback and this machine's noise set"
        ),
        "latency_ms_service_per_run": [{k: round(v, 3) for k, v in s.items()} for s in per_run],
        "node_cpu_percent_under_load": round(median(node_cpu), 1),
        "wrk": wrk,
        "targets": {"p99_ms": target(service["p99"], TARGET_P99_MS, unit="ms")},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    emit(
        result,
        f"api_summary at {args.rate:g} req/s: p50 {service['p50']:.2f} ms, p95 "
        f"{service['p95']:.2f} ms, p99 {service['p99']:.2f} ms "
        f"({'met' if service['p99'] <= TARGET_P99_MS else 'MISSED'} <= {TARGET_P99_MS}), "
        f"max {service['max']:.1f} ms; {sum(errors.values())} errors; baseline server p99 "
        f"{floor_ms['p99']:.2f} ms",
    )


if __name__ == "__main__":
    main()
