"""CPU and memory of a sampling, history-keeping node, beside Glances and node_exporter.

Usage: .venv/bin/python bench/collector_overhead.py [--quick] [--seconds S]
       [--glances PATH] [--node-exporter PATH] [--profile SECONDS]

Runs, at the same time (so all three see the same background noise):
* ``sentra up``: fresh data dir, SENTRA_SAMPLE_INTERVAL=1, host collectors on (GPU absent
  here, Docker off by default) and storing history; polled with GET /api/telemetry/summary;
* Glances in web-server mode, ``glances -w --disable-webui -t 1``; polled with GET
  /api/4/all (install it into bench/.venv-peers or pass --glances);
* node_exporter (Debian's prometheus-node-exporter, defaults); polled with GET /metrics.

A separate process polls each of them once per second. After a 15 s warm-up, CPU time
(utime+stime of the process and its descendants, from /proc/<pid>/stat) is read every
30 s over S seconds; peak RSS is VmHWM from /proc/<pid>/status. Goals: sentra's CPU below
node_exporter's and <= 1/3 of Glances', sentra's peak RSS <= 80 MB.

--profile SECONDS runs ``py-spy record`` on sentra after the window (py-spy from the peers
venv or PATH) and adds its top functions by own time to the output.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from _common import (
    ROOT,
    cpu_seconds,
    emit,
    free_port,
    log,
    machine,
    median,
    memory_kib,
    sentra_node,
    started,
    target,
    temp_dir,
    wait_http,
)

WARMUP_S = 15
SLICE_S = 30
RSS_LIMIT_MB = 80
IDLE_LEAVES = (  # leaf frames of threads that are waiting, not working
    "_Worker._run (sentra/collect/loop.py:41)",
    "EpollSelector.select",
    "select (selectors.py",
    "wait (threading.py",
    "_worker (concurrent/futures/thread.py",
)
PEER_VENVS = [ROOT / "bench" / ".venv-peers", Path("/tmp/peers-venv")]


def find_tool(name: str, given: str | None) -> str | None:
    if given:
        return given
    for venv in PEER_VENVS:
        if (venv / "bin" / name).exists():
            return str(venv / "bin" / name)
    return shutil.which(name)


def poller(targets: dict[str, tuple[str, dict[str, str]]], seconds: float) -> dict[str, Any]:
    """Runs in its own process: one GET per target per second, on whole-second ticks."""
    stats: dict[str, dict[str, Any]] = {
        k: {"ok": 0, "failed": 0, "latency_ms": []} for k in targets
    }
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        end = time.time() + seconds
        while (now := time.time()) < end:
            time.sleep(1 - now % 1)
            for name, (url, headers) in targets.items():
                t = time.perf_counter()
                try:
                    ok = client.get(url, headers=headers).status_code == 200
                except httpx.HTTPError:
                    ok = False
                stats[name]["ok" if ok else "failed"] += 1
                stats[name]["latency_ms"].append((time.perf_counter() - t) * 1000)
    for s in stats.values():
        lat = sorted(s.pop("latency_ms"))
        s["latency_ms_median"] = round(lat[len(lat) // 2], 2) if lat else None
    return stats


def py_spy_top(pid: int, seconds: int, out_dir: Path) -> dict[str, Any] | str:
    """Hottest functions (``py-spy record --threads --format raw``), leaving out samples of
    threads parked in a known wait (py-spy cannot see that a thread blocked inside C, such
    as a worker in ``SimpleQueue.get``, is idle): by own time, and sentra's own functions by
    inclusive time. Shares are of the active samples."""
    spy = find_tool("py-spy", None)
    if spy is None:
        return "py-spy not found (pip install py-spy into bench/.venv-peers)"
    raw = out_dir / "sentra.folded"
    argv = [spy, "record", "-p", str(pid), "-d", str(seconds), "-r", "250", "--threads"]
    proc = subprocess.run(
        [*argv, "--format", "raw", "-o", str(raw)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not raw.exists():
        return f"py-spy failed: {proc.stderr.strip()[-300:]}"
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, n = stack.split(";"), int(count)
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            if "sentra/" in f:
                inclusive[f] += n

    def top(c: collections.Counter[str], k: int) -> list[dict[str, Any]]:
        return [{"function": f, "share": round(v / max(total, 1), 3)} for f, v in c.most_common(k)]

    return {
        "seconds": seconds,
        "active_samples": total,
        "samples_per_thread_possible": seconds * 250,
        "own_time": top(own, 12),
        "sentra_inclusive": top(inclusive, 12),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 s window (CI smoke)")
    ap.add_argument("--seconds", type=int, default=None, help="measuring window (default 120)")
    ap.add_argument("--glances", default=None, help="path to the glances executable")
    ap.add_argument(
        "--node-exporter", default=None, help="path to node_exporter (default: Debian's)"
    )
    ap.add_argument("--profile", type=int, default=0, help="py-spy sentra for N s afterwards")
    args = ap.parse_args()
    window = args.seconds or (20 if args.quick else 120)
    started_at = time.perf_counter()
    glances = find_tool("glances", args.glances)
    exporter = args.node_exporter or next(
        (p for p in ("/usr/bin/prometheus-node-exporter", shutil.which("node_exporter")) if p),
        None,
    )
    if exporter and not os.path.exists(exporter):
        exporter = None

    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(temp_dir("sentra-bench-overhead-"))
        node = stack.enter_context(sentra_node(sample_interval=1.0))
        popens: dict[str, subprocess.Popen[Any]] = {"sentra": node.proc}
        targets = {"sentra": (f"{node.url}/api/telemetry/summary", node.headers)}
        versions: dict[str, str] = {}
        if glances:
            port = free_port()
            argv = [
                glances,
                "-w",
                "--disable-webui",
                "-t",
                "1",
                "-B",
                "127.0.0.1",
                "-p",
                str(port),
                "--disable-check-update",
            ]
            p = stack.enter_context(started(argv, log_path=tmp / "glances.log"))
            url = f"http://127.0.0.1:{port}/api/4/all"
            wait_http(url, timeout=60)
            popens["glances"], targets["glances"] = p, (url, {})
            versions["glances"] = subprocess.run(
                [glances, "--version"], capture_output=True, text=True
            ).stdout.split("\n")[0]
        if exporter:
            port = free_port()
            argv = [exporter, f"--web.listen-address=127.0.0.1:{port}"]
            p = stack.enter_context(started(argv, log_path=tmp / "node_exporter.log"))
            url = f"http://127.0.0.1:{port}/metrics"
            wait_http(url, timeout=30)
            popens["node_exporter"], targets["node_exporter"] = p, (url, {})
            versions["node_exporter"] = (
                subprocess.run(
                    [exporter, "--version"], capture_output=True, text=True
                ).stdout.split("\n")[0]
                or "unknown"
            )
        procs = {k: p.pid for k, p in popens.items()}
        log(f"running: {', '.join(procs)}; warm-up {WARMUP_S} s, window {window} s")

        pool = stack.enter_context(mp.get_context("spawn").Pool(1))
        polled = pool.apply_async(poller, (targets, WARMUP_S + window + 2))
        time.sleep(WARMUP_S)
        marks = [(time.monotonic(), {k: cpu_seconds(pid) for k, pid in procs.items()})]
        while (left := window - (marks[-1][0] - marks[0][0])) > 0.5:
            time.sleep(min(SLICE_S, left))
            marks.append((time.monotonic(), {k: cpu_seconds(pid) for k, pid in procs.items()}))
        mem = {k: memory_kib(pid) for k, pid in procs.items()}
        poll_stats = polled.get(timeout=60)
        for name, proc in popens.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited during the measurement")
        profile = py_spy_top(node.proc.pid, args.profile, tmp) if args.profile else None

    elapsed = marks[-1][0] - marks[0][0]
    per: dict[str, dict[str, Any]] = {}
    for name in procs:
        total = marks[-1][1][name] - marks[0][1][name]
        slices = [
            (b[1][name] - a[1][name]) / (b[0] - a[0]) * 100 for a, b in itertools.pairwise(marks)
        ]
        per[name] = {
            "cpu_percent_of_one_core": round(total / elapsed * 100, 2),
            "cpu_seconds_per_minute": round(total / elapsed * 60, 3),
            "cpu_percent_per_30s_slice": [round(s, 2) for s in slices],
            "cpu_percent_median_slice": round(median(slices), 2),
            "rss_peak_mb": round(mem[name]["VmHWM"] / 1024, 1),
            "rss_now_mb": round(mem[name]["VmRSS"] / 1024, 1),
            "polls": poll_stats[name],
        }
    s = per["sentra"]["cpu_percent_of_one_core"]
    targets_out: dict[str, Any] = {
        "sentra_rss_peak_mb": target(per["sentra"]["rss_peak_mb"], RSS_LIMIT_MB, unit="MB"),
    }
    if "node_exporter" in per:
        ne = per["node_exporter"]["cpu_percent_of_one_core"]
        targets_out["sentra_cpu_below_node_exporter"] = {
            "value": s,
            "target": f"< {ne} % (node_exporter's, same run)",
            "met": s < ne,
        }
    if "glances" in per:
        gl = per["glances"]["cpu_percent_of_one_core"]
        targets_out["sentra_cpu_le_third_of_glances"] = target(s, gl / 3, unit="% (Glances/3)")
    result = {
        "benchmark": "collector_overhead",
        "mode": "quick" if args.quick else "default",
        "machine": machine(),
        "arrangement": "all three simultaneously, each polled once per second",
        "window_seconds": round(elapsed, 1),
        "warmup_seconds": WARMUP_S,
        "versions": versions | {"python": sys.version.split()[0]},
        "processes": per,
        "missing_peers": [p for p in ("glances", "node_exporter") if p not in per],
        "profile_top_own_time": profile,
        "targets": targets_out,
        "wall_seconds": round(time.perf_counter() - started_at, 1),
    }
    parts = [
        f"{k} {v['cpu_percent_of_one_core']:.2f}% CPU {v['rss_peak_mb']:.0f} MB"
        for k, v in per.items()
    ]
    missed = [k for k, t in targets_out.items() if not t["met"]]
    emit(
        result,
        f"collector_overhead over {elapsed:.0f} s: {'; '.join(parts)} -> "
        f"{'GOAL MISSED: ' + ', '.join(missed) if missed else 'all goals met'}",
    )


if __name__ == "__main__":
    main()
