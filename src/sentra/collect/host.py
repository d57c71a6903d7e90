"""Host collectors (psutil and /sys), split by what can hang.

Each is its own collector with its own worker thread and time budget, so a hung network
mount stalls only ``host.filesystem``, never CPU or memory readings (node_exporter's most
reported hang is a statfs on a dead NFS mount that blocks the whole scrape).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import psutil

from sentra.collect.base import SampleBuilder, rate
from sentra.events import Labels, Sample

_SKIP_DISKS = re.compile(r"^(loop|ram|zram|fd|sr)\d*")


def configure_procfs(proc_root: Path) -> None:
    """Point psutil at another /proc (the host's, mounted into a container)."""
    psutil.PROCFS_PATH = str(proc_root)


class CpuMemoryCollector:
    """CPU (total and per core), load, memory, swap, uptime, process count."""

    name = "host.cpu"

    def __init__(self) -> None:
        psutil.cpu_percent(interval=None, percpu=True)  # prime psutil's deltas
        psutil.cpu_percent(interval=None)
        self._boot: float | None = None

    def collect(self, now: float) -> list[Sample]:
        b = SampleBuilder(now)
        total = b.field("cpu", lambda: psutil.cpu_percent(interval=None))
        b.add(
            "system.cpu.utilization",
            None if total is None else total / 100,
            {"cpu": "total"},
            digits=3,
        )
        per_core = b.field("cpu.percore", lambda: psutil.cpu_percent(interval=None, percpu=True))
        for i, pct in enumerate(per_core or []):
            b.add("system.cpu.utilization", pct / 100, {"cpu": str(i)}, digits=3)
        load = b.field("load", psutil.getloadavg)
        if load:
            for window, value in zip(("1m", "5m", "15m"), load, strict=True):
                b.add(f"system.cpu.load_average.{window}", value, digits=2)
        mem = b.field("memory", psutil.virtual_memory)
        if mem is not None:
            b.add("system.memory.limit", mem.total)
            b.add("system.memory.usage", mem.used, {"state": "used"})
            b.add("system.memory.usage", mem.available, {"state": "available"})
            b.add("system.memory.usage", mem.free, {"state": "free"})
            for state in ("cached", "buffers"):
                b.add("system.memory.usage", getattr(mem, state, None), {"state": state})
            b.add("system.memory.utilization", mem.percent / 100, digits=3)
        swap = b.field("swap", psutil.swap_memory)
        if swap is not None:
            b.add("system.paging.usage", swap.used, {"state": "used"})
            b.add("system.paging.usage", swap.free, {"state": "free"})
            b.add("system.paging.utilization", swap.percent / 100, digits=3)
        if self._boot is None:
            self._boot = b.field("uptime", psutil.boot_time)
        boot = self._boot
        if boot is not None:
            b.add("system.uptime", max(now - boot, 0.0), digits=0)
        pids = b.field("processes", psutil.pids)
        if pids is not None:
            b.add("system.processes.count", len(pids))
        return b.samples

    def close(self) -> None:
        pass


class FilesystemCollector:
    """Usage of every mounted filesystem; disk IO rates per block device."""

    name = "host.filesystem"

    def __init__(self, refresh_s: float = 60.0) -> None:
        self._prev_io: dict[str, Any] = {}
        self._prev_t: float | None = None
        self._refresh_s = refresh_s
        self._parts: list[Any] = []
        self._parts_at = float("-inf")

    def collect(self, now: float) -> list[Sample]:
        b = SampleBuilder(now)
        if now - self._parts_at >= self._refresh_s:  # mounts change rarely: re-read a minute
            self._parts = b.field("partitions", lambda: psutil.disk_partitions(all=False)) or []
            self._parts_at = now
        parts = self._parts
        seen: set[str] = set()
        for part in parts:
            if part.mountpoint in seen:
                continue
            seen.add(part.mountpoint)
            usage = b.field(
                f"usage:{part.mountpoint}", functools.partial(psutil.disk_usage, part.mountpoint)
            )
            if usage is None:
                continue
            labels = {"device": part.device, "mountpoint": part.mountpoint}
            b.add("system.filesystem.usage", usage.used, {**labels, "state": "used"})
            b.add("system.filesystem.usage", usage.free, {**labels, "state": "free"})
            b.add("system.filesystem.utilization", usage.percent / 100, labels, digits=3)
        io = b.field("diskio", lambda: psutil.disk_io_counters(perdisk=True)) or {}
        dt = now - self._prev_t if self._prev_t is not None else 0.0
        for dev, cur in io.items():
            if _SKIP_DISKS.match(dev):
                continue
            prev = self._prev_io.get(dev)
            if prev is not None and dt > 0:
                for direction, attr in (("read", "read_bytes"), ("write", "write_bytes")):
                    r = rate(getattr(prev, attr), getattr(cur, attr), dt)
                    b.add(
                        "system.disk.io.rate", r, {"device": dev, "direction": direction}, digits=0
                    )
                for direction, attr in (("read", "read_count"), ("write", "write_count")):
                    r = rate(getattr(prev, attr), getattr(cur, attr), dt)
                    b.add(
                        "system.disk.operations.rate",
                        r,
                        {"device": dev, "direction": direction},
                        digits=1,
                    )
        self._prev_io = dict(io)
        self._prev_t = now
        return b.samples

    def close(self) -> None:
        pass


class NetworkCollector:
    """Per-NIC receive/transmit rates, errors and drops."""

    name = "host.network"

    def __init__(self) -> None:
        self._prev: dict[str, Any] = {}
        self._prev_t: float | None = None

    def collect(self, now: float) -> list[Sample]:
        b = SampleBuilder(now)
        counters = b.field("net", lambda: psutil.net_io_counters(pernic=True)) or {}
        dt = now - self._prev_t if self._prev_t is not None else 0.0
        for nic, cur in counters.items():
            if nic == "lo":
                continue
            prev = self._prev.get(nic)
            if prev is None or dt <= 0:
                continue
            for direction, suffix in (("receive", "recv"), ("transmit", "sent")):
                labels = {"device": nic, "direction": direction}
                b.add(
                    "system.network.io.rate",
                    rate(getattr(prev, f"bytes_{suffix}"), getattr(cur, f"bytes_{suffix}"), dt),
                    labels,
                    digits=0,
                )
                b.add(
                    "system.network.packets.rate",
                    rate(getattr(prev, f"packets_{suffix}"), getattr(cur, f"packets_{suffix}"), dt),
                    labels,
                    digits=1,
                )
                err = "errin" if direction == "receive" else "errout"
                drop = "dropin" if direction == "receive" else "dropout"
                b.add(
                    "system.network.errors.rate",
                    rate(getattr(prev, err), getattr(cur, err), dt),
                    labels,
                    digits=2,
                )
                b.add(
                    "system.network.dropped.rate",
                    rate(getattr(prev, drop), getattr(cur, drop), dt),
                    labels,
                    digits=2,
                )
        self._prev = dict(counters)
        self._prev_t = now
        return b.samples

    def close(self) -> None:
        pass


class SensorsCollector:
    """Temperatures and fan speeds from /sys/class/hwmon (under a configurable /sys root).

    Which sensor files exist is re-discovered once a minute; their values every tick.
    """

    name = "host.sensors"

    def __init__(self, sys_root: Path = Path("/sys"), refresh_s: float = 60.0) -> None:
        self.hwmon = sys_root / "class" / "hwmon"
        self.thermal = sys_root / "class" / "thermal"
        self._refresh_s = refresh_s
        self._inputs: list[tuple[str, Path, Labels]] = []
        self._found_at = float("-inf")

    def _discover(self) -> list[tuple[str, Path, Labels]]:
        """(metric, file, labels) of every sensor input."""
        found: list[tuple[str, Path, Labels]] = []
        kinds = (("hw.temperature", "temp*_input"), ("hw.fan.speed", "fan*_input"))
        for chip_dir in sorted(self.hwmon.glob("hwmon*")):
            chip = _read_text(chip_dir / "name") or chip_dir.name
            for metric, pattern in kinds:
                for path in sorted(chip_dir.glob(pattern)):
                    label = _read_text(path.with_name(path.name.replace("_input", "_label")))
                    sensor = label or path.name.split("_")[0]
                    found.append((metric, path, {"chip": chip, "sensor": sensor}))
        if not any(metric == "hw.temperature" for metric, _, _ in found):
            for zone in sorted(self.thermal.glob("thermal_zone*")):
                kind = _read_text(zone / "type") or zone.name
                labels = {"chip": "thermal", "sensor": kind}
                found.append(("hw.temperature", zone / "temp", labels))
        return found

    def collect(self, now: float) -> list[Sample]:
        b = SampleBuilder(now)
        if now - self._found_at >= self._refresh_s:
            self._inputs = self._discover()
            self._found_at = now
        for metric, path, labels in self._inputs:
            raw = b.field(str(path), functools.partial(_read_int, path))
            if raw is None:
                continue
            if metric == "hw.temperature":
                b.add(metric, raw / 1000, labels, digits=1)
            else:
                b.add(metric, raw, labels)
        return b.samples

    def close(self) -> None:
        pass


def _read_int(path: Path) -> int:
    return int(path.read_text(encoding="ascii").strip())


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def host_collectors(sys_root: Path) -> list[Any]:
    """The host collectors, in display order."""
    return [
        CpuMemoryCollector(),
        FilesystemCollector(),
        NetworkCollector(),
        SensorsCollector(sys_root),
    ]
