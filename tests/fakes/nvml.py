"""FakeNVML: the subset of the ``pynvml`` module that ``GpuCollector`` calls, replayed from a
fixture recorded by ``tools/record_nvml.py`` (format described there).

Same function names and parameters as pynvml, same return types (pynvml's own ctypes
structures and ``nvmlFriendlyObject``), and pynvml's own exception classes, raised the way
pynvml raises them. ``tests/unit/test_nvml_contract.py`` holds it to that.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pynvml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvml"

# The constants the collector passes, by value, so a call can be looked up by its key.
_CONSTANT_NAMES = {
    "nvmlDeviceGetTemperature": {pynvml.NVML_TEMPERATURE_GPU: "NVML_TEMPERATURE_GPU"},
    "nvmlDeviceGetClockInfo": {
        pynvml.NVML_CLOCK_GRAPHICS: "NVML_CLOCK_GRAPHICS",
        pynvml.NVML_CLOCK_SM: "NVML_CLOCK_SM",
        pynvml.NVML_CLOCK_MEM: "NVML_CLOCK_MEM",
        pynvml.NVML_CLOCK_VIDEO: "NVML_CLOCK_VIDEO",
    },
}


class FixtureMissing(LookupError):
    """The fixture has no recording of this call: record it (tools/record_nvml.py)."""


class FakeHandle:
    """Stands for pynvml's opaque ``c_nvmlDevice_t``."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"FakeHandle({self.index})"


class FakeNVML:
    # pynvml's exception classes and constants, the very same objects.
    NVMLError = pynvml.NVMLError
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVMLError_LibraryNotFound = pynvml.NVMLError_LibraryNotFound
    NVMLError_DriverNotLoaded = pynvml.NVMLError_DriverNotLoaded
    NVMLError_Uninitialized = pynvml.NVMLError_Uninitialized
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM

    def __init__(self, fixture: dict[str, Any]) -> None:
        self.fixture = copy.deepcopy(fixture)
        self.calls: list[str] = []
        self.initialized = False

    @classmethod
    def from_fixture(cls, name: str) -> FakeNVML:
        return cls(load_fixture(name))

    # -------------------------------------------------------------- replay machinery

    def _replay(self, entry: dict[str, Any] | None, key: str) -> Any:
        if entry is None:
            raise FixtureMissing(f"fixture has no recording of {key}")
        if "error" in entry:
            raise getattr(pynvml, entry["error"])()
        return entry["return"]

    def _device(self, handle: FakeHandle, function: str, *consts: int) -> Any:
        self.calls.append(function)
        if not self.initialized:
            raise pynvml.NVMLError_Uninitialized()
        if not isinstance(handle, FakeHandle):
            raise pynvml.NVMLError_InvalidArgument()
        names = [_CONSTANT_NAMES[function][c] for c in consts]
        key = f"{function}({','.join(names)})" if names else function
        return self._replay(self.fixture["devices"][handle.index].get(key), key)

    # -------------------------------------------------------------- the pynvml subset

    def nvmlInit(self) -> None:
        self.calls.append("nvmlInit")
        self._replay(self.fixture.get("nvmlInit"), "nvmlInit")
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")
        if not self.initialized:
            raise pynvml.NVMLError_Uninitialized()
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        self.calls.append("nvmlDeviceGetCount")
        if not self.initialized:
            raise pynvml.NVMLError_Uninitialized()
        return int(self._replay(self.fixture.get("nvmlDeviceGetCount"), "nvmlDeviceGetCount"))

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self.calls.append("nvmlDeviceGetHandleByIndex")
        if not self.initialized:
            raise pynvml.NVMLError_Uninitialized()
        if not 0 <= index < len(self.fixture["devices"]):
            raise pynvml.NVMLError_InvalidArgument()
        return FakeHandle(index)

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str:
        return str(self._device(handle, "nvmlDeviceGetName"))

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:
        return str(self._device(handle, "nvmlDeviceGetUUID"))

    def nvmlDeviceGetUtilizationRates(self, handle: FakeHandle) -> pynvml.c_nvmlUtilization_t:
        return pynvml.c_nvmlUtilization_t(**self._device(handle, "nvmlDeviceGetUtilizationRates"))

    def nvmlDeviceGetMemoryInfo(
        self, handle: FakeHandle, version: int | None = None
    ) -> pynvml.c_nvmlMemory_t:
        if version:  # the collector reads v1; a v2 recording would need its own key
            raise FixtureMissing("nvmlDeviceGetMemoryInfo with a version is not recorded")
        return pynvml.c_nvmlMemory_t(**self._device(handle, "nvmlDeviceGetMemoryInfo"))

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:
        return int(self._device(handle, "nvmlDeviceGetTemperature", sensor))

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        return int(self._device(handle, "nvmlDeviceGetPowerUsage"))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeHandle) -> int:
        return int(self._device(handle, "nvmlDeviceGetEnforcedPowerLimit"))

    def nvmlDeviceGetClockInfo(self, handle: FakeHandle, type: int) -> int:
        return int(self._device(handle, "nvmlDeviceGetClockInfo", type))

    def nvmlDeviceGetFanSpeed(self, handle: FakeHandle) -> int:
        return int(self._device(handle, "nvmlDeviceGetFanSpeed"))

    def nvmlDeviceGetComputeRunningProcesses(
        self, handle: FakeHandle
    ) -> list[pynvml.nvmlFriendlyObject]:
        procs = self._device(handle, "nvmlDeviceGetComputeRunningProcesses")
        return [pynvml.nvmlFriendlyObject(p) for p in procs]

    def nvmlDeviceGetGraphicsRunningProcesses(
        self, handle: FakeHandle
    ) -> list[pynvml.nvmlFriendlyObject]:
        procs = self._device(handle, "nvmlDeviceGetGraphicsRunningProcesses")
        return [pynvml.nvmlFriendlyObject(p) for p in procs]


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data
