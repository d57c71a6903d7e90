"""NVIDIA GPUs through NVML (the ``pynvml`` module of the ``nvidia-ml-py`` package).

Every NVML field is read on its own, as Glances does (``glances/plugins/gpu/cards/nvidia.py``):
a field the card does not support (``NVMLError_NotSupported``: no fan on a passively cooled
H100, no power reading in a vGPU guest) yields no sample instead of losing the rest.

NVML is initialised lazily on the first ``collect`` and, after a failure, tried again at most
every ``retry_s`` seconds (default 60), so a machine without a driver costs one cheap check a
minute. The module is injectable (``GpuCollector(nvml=FakeNVML(...))``); every attribute the
collector reads from it goes through ``self._nvml`` so the contract test can list them.

Processes: NVML reports PIDs in the *host* PID namespace. Inside a container (without
``--pid=host``) those PIDs are not in our ``/proc``; such a process is still reported, labelled
``pid_namespace="host"``, rather than dropped. A PID that is visible is labelled ``local`` and
named from ``<proc_root>/<pid>/comm``. (A container PID that happens to equal a host PID would be
mislabelled ``local``; there is no cheap, unprivileged way to tell the two apart.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sentra.collect.base import CollectorUnavailable, SampleBuilder
from sentra.events import Labels, Sample

log = logging.getLogger(__name__)

DEFAULT_RETRY_S = 60.0

_CONTAINER_HINT = (
    "install the NVIDIA driver, or run the container with --gpus all "
    "(compose: deploy.resources.reservations.devices with driver: nvidia, capabilities: [gpu])"
)

#: Hints for NVML init failures that mean "no usable NVIDIA GPU here" (reported as absent),
#: keyed by the pynvml exception class name.
_ABSENT_HINTS = {
    "NVMLError_LibraryNotFound": f"NVML library (libnvidia-ml.so.1) not found: {_CONTAINER_HINT}",
    "NVMLError_DriverNotLoaded": f"NVIDIA kernel driver not loaded: {_CONTAINER_HINT}",
    "NVMLError_NoPermission": (
        "no permission to open /dev/nvidia*: run Sentra as a user in the video group, "
        "or give the container the GPU devices (--gpus all)"
    ),
    "NVMLError_LibRmVersionMismatch": (
        "NVML library and NVIDIA kernel driver versions differ (driver upgraded without "
        "a reboot?): reboot or reload the nvidia kernel module"
    ),
    "NVMLError_FunctionNotFound": (
        "the NVML library is too old for nvidia-ml-py: update the NVIDIA driver"
    ),
}


@dataclass(frozen=True, slots=True)
class _Device:
    index: int
    handle: Any
    labels: Labels


class GpuCollector:
    """Samples every NVIDIA GPU NVML can see; raises ``CollectorUnavailable`` where none."""

    name = "gpu"

    def __init__(
        self,
        nvml: Any = None,
        *,
        proc_root: str | Path = "/proc",
        retry_s: float = DEFAULT_RETRY_S,
    ) -> None:
        # ``Any``: pynvml ships no type information; the module (or a fake) is duck-typed.
        self._nvml: Any = nvml
        self._proc_root = Path(proc_root)
        self._retry_s = retry_s
        self._devices: list[_Device] | None = None
        self._failed_at: float | None = None
        self._failure: Exception | None = None

    # ------------------------------------------------------------------ lifecycle

    def collect(self, now: float) -> list[Sample]:
        devices = self._ensure_init(now)
        b = SampleBuilder(now)
        for dev in devices:
            self._read_device(b, dev)
        return b.samples

    def close(self) -> None:
        if self._devices is None or self._nvml is None:
            return
        self._devices = None
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError as exc:
            log.debug("nvmlShutdown failed: %s", exc)

    def _ensure_init(self, now: float) -> list[_Device]:
        if self._devices is not None:
            return self._devices
        if (
            self._failure is not None
            and self._failed_at is not None
            and now - self._failed_at < self._retry_s
        ):
            raise _fresh(self._failure)
        try:
            self._devices = self._init()
        except Exception as exc:
            self._failed_at = now
            self._failure = exc
            raise
        self._failure = self._failed_at = None
        return self._devices

    def _init(self) -> list[_Device]:
        if self._nvml is None:
            try:
                import pynvml  # loaded on first use: no GPU, no cost
            except ImportError as exc:
                raise CollectorUnavailable(
                    "pynvml is not installed: pip install nvidia-ml-py"
                ) from exc
            self._nvml = pynvml
        nvml = self._nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            hint = _ABSENT_HINTS.get(type(exc).__name__)
            if hint is not None:
                raise CollectorUnavailable(hint) from exc
            raise RuntimeError(f"NVML initialisation failed: {exc}") from exc
        try:
            count = int(nvml.nvmlDeviceGetCount())
            if count == 0:
                raise CollectorUnavailable("no NVIDIA GPU found")
            devices = []
            for index in range(count):
                try:
                    devices.append(self._open(index))
                except nvml.NVMLError as exc:  # e.g. GPU is lost: keep the healthy ones
                    log.warning("GPU %d cannot be opened: %s", index, exc)
            if not devices:
                raise CollectorUnavailable(f"none of the {count} NVIDIA GPU(s) can be opened")
        except BaseException:
            self._shutdown_quietly()
            raise
        log.info("NVML: %d GPU(s): %s", count, ", ".join(d.labels["name"] for d in devices))
        return devices

    def _open(self, index: int) -> _Device:
        nvml = self._nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        labels: Labels = {"gpu": str(index)}
        # Name and UUID do not change while the driver is loaded: read once, each on its own.
        for key, read in (("uuid", nvml.nvmlDeviceGetUUID), ("name", nvml.nvmlDeviceGetName)):
            try:
                labels[key] = str(read(handle))
            except nvml.NVMLError as exc:
                log.debug("GPU %d: %s unavailable: %s", index, key, exc)
                labels[key] = ""
        return _Device(index, handle, labels)

    def _shutdown_quietly(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError as exc:
            log.debug("nvmlShutdown failed: %s", exc)

    # ------------------------------------------------------------------ readings

    def _read_device(self, b: SampleBuilder, dev: _Device) -> None:
        nvml = self._nvml
        h = dev.handle
        labels = dev.labels
        g = dev.index

        util = b.field(f"gpu{g}.utilization", lambda: nvml.nvmlDeviceGetUtilizationRates(h))
        if util is not None:
            b.add("gpu.utilization", util.gpu / 100, labels, digits=3)
            # Fraction of time device memory was read or written (nvidia-smi
            # utilization.memory); not the fraction of memory in use.
            b.add("gpu.memory.busy", util.memory / 100, labels, digits=3)

        mem = b.field(f"gpu{g}.memory", lambda: nvml.nvmlDeviceGetMemoryInfo(h))
        if mem is not None:
            b.add("gpu.memory.used", mem.used, labels, digits=0)
            b.add("gpu.memory.total", mem.total, labels, digits=0)
            if mem.total:
                b.add("gpu.memory.utilization", mem.used / mem.total, labels, digits=3)

        temp = b.field(
            f"gpu{g}.temperature",
            lambda: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU),
        )
        b.add("gpu.temperature", temp, labels, digits=0)

        draw_mw = b.field(f"gpu{g}.power.draw", lambda: nvml.nvmlDeviceGetPowerUsage(h))
        b.add("gpu.power.draw", _watts(draw_mw), labels, digits=1)
        limit_mw = b.field(f"gpu{g}.power.limit", lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(h))
        b.add("gpu.power.limit", _watts(limit_mw), labels, digits=1)

        sm = b.field(f"gpu{g}.clock.sm", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM))
        b.add("gpu.clock.sm", sm, labels, digits=0)
        memclk = b.field(
            f"gpu{g}.clock.memory", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM)
        )
        b.add("gpu.clock.memory", memclk, labels, digits=0)

        fan = b.field(f"gpu{g}.fan.speed", lambda: nvml.nvmlDeviceGetFanSpeed(h))
        b.add("gpu.fan.speed", None if fan is None else fan / 100, labels, digits=3)

        self._read_processes(b, dev)

    def _read_processes(self, b: SampleBuilder, dev: _Device) -> None:
        nvml = self._nvml
        h = dev.handle
        used: dict[int, int | None] = {}
        for kind, read in (
            ("compute", nvml.nvmlDeviceGetComputeRunningProcesses),
            ("graphics", nvml.nvmlDeviceGetGraphicsRunningProcesses),
        ):
            procs = b.field(f"gpu{dev.index}.processes.{kind}", partial(read, h))
            for p in procs or ():
                pid = int(p.pid)
                mem = p.usedGpuMemory  # None where NVML cannot tell (WDDM, no permission)
                prev = used.get(pid)
                used[pid] = mem if prev is None else max(prev, mem or 0)
        for pid, mem in sorted(used.items()):
            labels: Labels = {
                "gpu": dev.labels["gpu"],
                "uuid": dev.labels["uuid"],
                "pid": str(pid),
            }
            comm = self._comm(pid)
            if comm is None:
                labels["pid_namespace"] = "host"
            else:
                labels["pid_namespace"] = "local"
                if comm:
                    labels["process"] = comm
            b.add("gpu.process.memory.used", mem, labels, digits=0)

    def _comm(self, pid: int) -> str | None:
        """The process name, "" if visible but unreadable, None if the PID is not ours."""
        base = self._proc_root / str(pid)
        try:
            return (base / "comm").read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            return None if not base.exists() else ""
        except OSError:
            return ""


def _watts(milliwatts: int | None) -> float | None:
    return None if milliwatts is None else milliwatts / 1000


def _fresh(exc: Exception) -> Exception:
    """A new exception like ``exc`` (re-raising one instance chains its old tracebacks)."""
    if isinstance(exc, CollectorUnavailable):
        return CollectorUnavailable(str(exc))
    return RuntimeError(str(exc))
