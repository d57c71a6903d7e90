"""Helpers shared by the benchmarks: output, statistics, process and node handling.

Not a benchmark itself (the leading underscore keeps it out of ``bench/*.py`` globs that
mean "run every benchmark").
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- output


def emit(result: dict[str, Any], summary: str) -> None:
    """The benchmark contract: one JSON object on stdout, then one human line."""
    print(json.dumps(result, sort_keys=False))
    print(summary)


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def target(value: float, limit: float, *, at_most: bool = True, unit: str = "") -> dict[str, Any]:
    met = value <= limit if at_most else value >= limit
    return {
        "value": round(value, 4),
        "target": f"{'<=' if at_most else '>='} {limit}{(' ' + unit) if unit else ''}",
        "met": bool(met),
    }


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    if not s:
        return math.nan
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of an unsorted sequence."""
    s = sorted(xs)
    if not s:
        return math.nan
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_at_start": [round(x, 2) for x in load],
        "note": "shared 2-core VM; other jobs run beside the benchmark, figures are noisy",
    }


# ----------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None) -> None:
    """Poll ``url`` until it answers 200, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | str = "no answer"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, headers=headers, timeout=2.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout} s: {last}")


def stop_process(proc: subprocess.Popen[Any], *, grace: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL; only the process we started (and its group)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def started(
    argv: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None
) -> Iterator[subprocess.Popen[Any]]:
    """Run ``argv`` in its own process group; always stopped on exit of the block."""
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        stop_process(proc)
        if log_path:
            out.close()  # type: ignore[union-attr]


@dataclass
class Node:
    url: str
    token: str
    proc: subprocess.Popen[Any]
    data_dir: Path
    headers: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def sentra_node(
    *,
    sample_interval: float = 1.0,
    extra_env: dict[str, str] | None = None,
    role: str = "viewer",
) -> Iterator[Node]:
    """A real ``sentra up`` on a free port with a fresh data dir, and a token of ``role``."""
    with temp_dir("sentra-bench-") as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
        env["SENTRA_SAMPLE_INTERVAL"] = str(sample_interval)
        env.update(extra_env or {})
        sentra = str(VENV_BIN / "sentra")
        token = (
            subprocess.run(
                [
                    sentra,
                    "token",
                    "create",
                    "--name",
                    "bench",
                    "--role",
                    role,
                    "--data-dir",
                    str(data_dir),
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = free_port()
        argv = [sentra, "up", "--data-dir", str(data_dir), "--port", str(port)]
        with started(argv, env=env, log_path=data_dir / "bench-node.log") as proc:
            url = f"http://127.0.0.1:{port}"
            try:
                wait_http(f"{url}/api/health", timeout=60)
            except TimeoutError:
                tail = (data_dir / "bench-node.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"sentra did not start; its output:\n{tail}") from None
            headers = {"Authorization": f"Bearer {token}"}
            yield Node(url, token, proc, data_dir, headers)


# ------------------------------------------------------------------ /proc readings


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(c) for c in f.read().split())
    return out


def _tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


def cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` and its live descendants, plus its reaped children's time."""
    total = 0
    for i, p in enumerate(_tree(pid)):
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[11..14] are utime, stime, cutime, cstime (fields 14-17 of proc(5)).
        total += int(fields[11]) + int(fields[12])
        if i == 0:
            total += int(fields[13]) + int(fields[14])
    return total / CLK_TCK


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of ``pid`` and of its descendants, summed."""
    out = {"VmHWM": 0, "VmRSS": 0}
    for p in _tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in out:
                    out[key] += int(rest.split()[0])
    return out


# ------------------------------------------------------------------ wrk


def wrk_view(url: str, token: str, seconds: int) -> dict[str, Any] | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    out = subprocess.run(
        [
            wrk,
            "-t1",
            "-c1",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    dist = {f"p{p}": ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.M)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {
        "what": "closed loop, 1 connection, as fast as it answers (not paced)",
        "seconds": seconds,
        "requests_per_s": float(rps.group(1)) if rps else None,
        "latency_ms": dist,
    }
