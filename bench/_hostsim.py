"""Synthetic host telemetry with the series set and value shapes of sentra's host collectors.

The names, labels and rounding follow ``sentra.collect.host`` (checked there, not guessed):
CPU ratios with 3 decimals, load averages with 2 (refreshed every 5 s as the kernel does),
memory and filesystem bytes in whole KiB (``/proc/meminfo`` and ``statfs`` granularity),
disk and network rates as integers with bursts and many zeros (ticks are aligned, so
``dt`` is exactly the interval), temperatures with 1 decimal (some sensors in whole
degrees), a fan in whole rpm. Values drift like a lightly loaded server: a daily cycle,
slow random drift, jobs that pin a core for tens of seconds.

Everything is vectorised over time with numpy; the whole horizon is generated at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sentra.events import Sample

F64 = npt.NDArray[np.float64]
GiB = 1024**3
KiB = 1024


@dataclass(frozen=True)
class SeriesSpec:
    name: str
    labels: dict[str, str]


def _smooth(rng: np.random.Generator, n: int, tau: int) -> F64:
    """Zero-mean, unit-variance noise that wanders on a time scale of ``tau`` seconds
    (white noise through two box filters of width ``tau``: O(n), no Python loop)."""
    pad = 2 * tau
    x = rng.standard_normal(n + 2 * pad)
    for _ in range(2):
        c = np.cumsum(np.concatenate(([0.0], x)))
        x = (c[tau:] - c[:-tau]) / tau
    x = x[:n]
    sd = x.std()
    return x / sd if sd > 0 else x


def _bursts(rng: np.random.Generator, n: int, every: float, mean_len: float) -> F64:
    """0/amplitude steps: jobs that start about every ``every`` s and last ~``mean_len`` s."""
    out = np.zeros(n + 1)
    k = rng.poisson(n / every)
    starts = rng.integers(0, n, k)
    ends = np.minimum(starts + rng.exponential(mean_len, k).astype(int) + 1, n)
    amps = rng.uniform(0.3, 0.9, k)
    np.add.at(out, starts, amps)
    np.add.at(out, ends, -amps)
    return np.cumsum(out)[:n]


def _kib(x: F64) -> F64:
    return np.round(x / KiB) * KiB


class HostSim:
    """A simulated host: ``specs`` lists its series, ``generate`` their values per second."""

    def __init__(
        self,
        *,
        seed: int = 7,
        cores: int = 8,
        filesystems: int = 3,
        disks: int = 2,
        nics: int = 2,
        temps: int = 6,
    ) -> None:
        self.seed = seed
        self.cores, self.filesystems, self.disks, self.nics, self.temps = (
            cores,
            filesystems,
            disks,
            nics,
            temps,
        )
        s: list[SeriesSpec] = [SeriesSpec("system.cpu.utilization", {"cpu": "total"})]
        s += [SeriesSpec("system.cpu.utilization", {"cpu": str(i)}) for i in range(cores)]
        s += [SeriesSpec(f"system.cpu.load_average.{w}", {}) for w in ("1m", "5m", "15m")]
        s.append(SeriesSpec("system.memory.limit", {}))
        s += [
            SeriesSpec("system.memory.usage", {"state": st})
            for st in ("used", "available", "free", "cached", "buffers")
        ]
        s.append(SeriesSpec("system.memory.utilization", {}))
        s += [SeriesSpec("system.paging.usage", {"state": st}) for st in ("used", "free")]
        s.append(SeriesSpec("system.paging.utilization", {}))
        s.append(SeriesSpec("system.uptime", {}))
        s.append(SeriesSpec("system.processes.count", {}))
        for i in range(filesystems):
            lab = {"device": f"/dev/nvme0n1p{i + 1}", "mountpoint": ["/", "/home", "/var"][i % 3]}
            s.append(SeriesSpec("system.filesystem.usage", {**lab, "state": "used"}))
            s.append(SeriesSpec("system.filesystem.usage", {**lab, "state": "free"}))
            s.append(SeriesSpec("system.filesystem.utilization", lab))
        for i in range(disks):
            for metric in ("system.disk.io.rate", "system.disk.operations.rate"):
                for d in ("read", "write"):
                    s.append(SeriesSpec(metric, {"device": f"nvme{i}n1", "direction": d}))
        for i in range(nics):
            for d in ("receive", "transmit"):
                lab = {"device": ["eth0", "docker0", "wlan0"][i % 3], "direction": d}
                for metric in ("io", "packets", "errors", "dropped"):
                    s.append(SeriesSpec(f"system.network.{metric}.rate", lab))
        for i in range(temps):
            chip = "coretemp" if i < temps // 2 else "nvme"
            s.append(SeriesSpec("hw.temperature", {"chip": chip, "sensor": f"temp{i + 1}"}))
        s.append(SeriesSpec("hw.fan.speed", {"chip": "nct6775", "sensor": "fan1"}))
        self.specs = s

    def generate(self, n: int, *, t0: float = 1_700_000_000.0) -> F64:
        """Values of every series for ``n`` seconds: shape (len(specs), n)."""
        rng = np.random.default_rng(self.seed)
        t = t0 + np.arange(n, dtype=np.float64)
        day = np.sin(2 * np.pi * (t % 86_400) / 86_400 - np.pi / 2)  # low at night
        rows: list[F64] = []

        cores = []
        for _ in range(self.cores):
            base = 0.01 + 0.04 * (day + 1) + 0.03 * np.abs(_smooth(rng, n, 600))
            noise = rng.exponential(0.02, n) * (rng.random(n) < 0.8)
            u = base + _bursts(rng, n, every=400, mean_len=25) + noise
            cores.append(np.round(np.clip(u, 0, 1), 3))
        rows.append(np.round(np.mean(cores, axis=0), 3))
        rows.extend(cores)

        runnable = np.sum(cores, axis=0) + rng.poisson(0.3, n)
        every5 = runnable[::5]
        for window in (60, 300, 900):
            a = np.exp(-5 / window)
            ema = np.empty_like(every5)
            acc = float(every5[0])
            for i, x in enumerate(every5.tolist()):
                acc = acc * a + x * (1 - a)
                ema[i] = acc
            rows.append(np.round(np.repeat(ema, 5)[:n], 2))

        total = 16 * GiB
        used = _kib(4 * GiB + 0.4 * GiB * _smooth(rng, n, 1800) + 0.3 * GiB * rows[0])
        used += np.cumsum(rng.integers(-3, 4, n)) * 4 * KiB  # page-level churn every second
        cached = _kib(6 * GiB + 0.5 * GiB * _smooth(rng, n, 3600))
        buffers = _kib(300 * 1024**2 + 20 * 1024**2 * _smooth(rng, n, 900))
        free = total - used - cached - buffers
        available = free + cached + buffers
        rows.append(np.full(n, float(total)))
        rows += [used, available, free, cached, buffers]
        rows.append(np.round(np.round(used / total * 100, 1) / 100, 3))
        rows += [np.zeros(n), np.full(n, 2.0 * GiB), np.zeros(n)]
        rows.append(np.floor(t - t0 + 3 * 86_400))
        procs = 250 + np.round(8 * _smooth(rng, n, 300)) + rng.integers(-1, 2, n)
        rows.append(procs.astype(np.float64))

        for i in range(self.filesystems):
            size = [100, 400, 50][i % 3] * GiB
            grow = rng.random(n) < 0.2  # log files grow a few blocks now and then
            fs_used = 0.3 * size + np.cumsum(grow * rng.integers(1, 8, n) * 4 * KiB)
            fs_used = _kib(fs_used)
            rows += [fs_used, size - fs_used, np.round(np.round(fs_used / size * 100, 1) / 100, 3)]

        for i in range(self.disks):
            busy = 0.25 if i == 0 else 0.05
            reads = (rng.random(n) < busy * 0.4) * rng.lognormal(10, 1.5, n)
            journal = ((t.astype(np.int64) % 5) == 0) & (rng.random(n) < 0.9)
            writes = (journal | (rng.random(n) < busy)) * rng.lognormal(10.5, 1.2, n)
            rb, wb = np.round(reads / 4096) * 4096, np.round(writes / 4096) * 4096
            rops = np.ceil(rb / rng.choice([4096, 16384, 131072], n))
            wops = np.ceil(wb / rng.choice([4096, 16384, 65536], n))
            rows += [rb, wb, rops, wops]

        for i in range(self.nics):
            scale = 1.0 if i == 0 else 0.02
            for direction in (0, 1):
                idle = rng.random(n) < (0.1 if i == 0 else 0.9)
                b = ~idle * rng.lognormal(7.5 + direction, 1.3, n) * scale
                b += _bursts(rng, n, every=900, mean_len=15) * 2e6 * scale
                b = np.round(b)
                pkts = np.round(b / rng.uniform(200, 1400, n))
                errs = (rng.random(n) < 1e-5).astype(np.float64)
                drops = (rng.random(n) < 1e-4).astype(np.float64)
                rows += [b, pkts, errs, drops]

        load = np.convolve(rows[0], np.ones(30) / 30, mode="same")
        for i in range(self.temps):
            temp = 38 + (4 * i) % 7 + 18 * load + 0.6 * _smooth(rng, n, 120)
            temp += rng.normal(0, 0.15, n)
            resolution = 1.0 if i < self.temps // 2 else 0.125
            rows.append(np.round(np.round(temp / resolution) * resolution, 1))
        rows.append(np.round(900 + 600 * load + rng.normal(0, 6, n)))

        out = np.vstack(rows)
        assert out.shape[0] == len(self.specs), (out.shape, len(self.specs))
        return out


def ticks(
    specs: list[SeriesSpec], values: F64, t0: float, *, start: int = 0, stop: int | None = None
) -> Iterator[tuple[float, list[Sample]]]:
    """Per-second batches of Samples (as one collector tick would publish them)."""
    stop = values.shape[1] if stop is None else stop
    step = 600
    for a in range(start, stop, step):
        b = min(a + step, stop)
        block = values[:, a:b].T.tolist()
        for k, row in enumerate(block):
            ts = t0 + a + k
            yield ts, [Sample(sp.name, sp.labels, ts, v) for sp, v in zip(specs, row, strict=True)]
