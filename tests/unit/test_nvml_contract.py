"""FakeNVML stays true to pynvml, and the fixtures to what pynvml returns.

The list of what the collector uses is read from the collector's own source (every
``self._nvml.<name>`` / ``nvml.<name>``), so a new NVML call fails here until the fake, the
recorder and the fixtures know it.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pynvml
import pytest

import sentra.collect.gpu as gpu_module
from tests.fakes.nvml import FIXTURES, FakeHandle, FakeNVML, load_fixture

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.json"))

# What real pynvml returns for each device call (checked against pynvml's source below).
STRUCT_RETURNS = {
    "nvmlDeviceGetUtilizationRates": pynvml.c_nvmlUtilization_t,
    "nvmlDeviceGetMemoryInfo": pynvml.c_nvmlMemory_t,
}
PROCESS_CALLS = {
    "nvmlDeviceGetComputeRunningProcesses": "nvmlDeviceGetComputeRunningProcesses_v3",
    "nvmlDeviceGetGraphicsRunningProcesses": "nvmlDeviceGetGraphicsRunningProcesses_v3",
}
STR_RETURNS = {"nvmlDeviceGetName", "nvmlDeviceGetUUID"}


def nvml_names_used_by_collector() -> set[str]:
    tree = ast.parse(Path(gpu_module.__file__).read_text(encoding="utf-8"))
    used = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if (isinstance(owner, ast.Name) and owner.id == "nvml") or (
            isinstance(owner, ast.Attribute) and owner.attr == "_nvml"
        ):
            used.add(node.attr)
    return used


USED = nvml_names_used_by_collector()
FUNCTIONS = sorted(n for n in USED if n.startswith("nvml"))


def load_recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("record_nvml", ROOT / "tools" / "record_nvml.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_collector_source_scan_finds_its_calls() -> None:
    # Guards the scan itself: if it found nothing, the tests below would pass vacuously.
    assert {
        "nvmlInit",
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetComputeRunningProcesses",
        "NVMLError",
        "NVML_CLOCK_SM",
    } <= USED
    assert len(FUNCTIONS) >= 15


@pytest.mark.parametrize("name", FUNCTIONS)
def test_fake_has_the_same_signature_as_pynvml(name: str) -> None:
    real = inspect.signature(getattr(pynvml, name))
    fake = inspect.signature(getattr(FakeNVML(load_fixture("h100-sxm.json")), name))
    assert [(p.name, p.kind, p.default) for p in fake.parameters.values()] == [
        (p.name, p.kind, p.default) for p in real.parameters.values()
    ]


@pytest.mark.parametrize("name", sorted(USED - set(FUNCTIONS)))
def test_fake_constants_and_exceptions_are_pynvmls_own(name: str) -> None:
    assert getattr(FakeNVML, name) is getattr(pynvml, name)


def test_struct_return_types_match_pynvml_source() -> None:
    for name, struct in STRUCT_RETURNS.items():
        assert f"{struct.__name__}()" in inspect.getsource(getattr(pynvml, name)), name
    for name, versioned in PROCESS_CALLS.items():
        assert versioned in inspect.getsource(inspect.unwrap(getattr(pynvml, name)))
        assert "nvmlStructToFriendlyObject" in inspect.getsource(getattr(pynvml, versioned))


def test_the_recorder_records_exactly_the_device_calls_the_collector_makes() -> None:
    recorder = load_recorder()
    recorded = {fn for fn, _ in recorder.DEVICE_CALLS}
    per_device = {n for n in FUNCTIONS if n.startswith("nvmlDeviceGet")} - {
        "nvmlDeviceGetCount",
        "nvmlDeviceGetHandleByIndex",
    }
    assert recorded == per_device


@pytest.mark.parametrize("fixture_name", FIXTURE_NAMES)
def test_fixture_has_the_recorders_keys_and_pynvml_types(fixture_name: str) -> None:
    recorder = load_recorder()
    data = json.loads((FIXTURES / fixture_name).read_text(encoding="utf-8"))
    assert data["_source"]
    assert data["format"] == 1
    keys = [recorder.call_key(fn, consts) for fn, consts in recorder.DEVICE_CALLS]
    assert data["devices"], "a fixture with no device tests nothing"
    assert data["nvmlDeviceGetCount"]["return"] == len(data["devices"])
    for device in data["devices"]:
        assert sorted(device) == sorted(keys)
        for key, entry in device.items():
            if "error" in entry:
                assert isinstance(getattr(pynvml, entry["error"])(), pynvml.NVMLError)
                continue
            check_type(key.split("(")[0], entry["return"])


def check_type(function: str, value: Any) -> None:
    if function in STRUCT_RETURNS:
        fields = [name for name, _ in STRUCT_RETURNS[function]._fields_]
        assert sorted(value) == sorted(fields), function
        assert all(type(v) is int and v >= 0 for v in value.values()), function
    elif function in PROCESS_CALLS:
        fields = [name for name, _ in pynvml.c_nvmlProcessInfo_v3_t._fields_]
        for proc in value:
            assert sorted(proc) == sorted(fields), function
            assert type(proc["pid"]) is int
            assert proc["usedGpuMemory"] is None or type(proc["usedGpuMemory"]) is int
    elif function in STR_RETURNS:
        assert type(value) is str and value, function
    else:
        assert type(value) is int and value >= 0, function


def test_fake_returns_pynvmls_own_types() -> None:
    nvml = FakeNVML.from_fixture("rtx4090-workstation.json")
    nvml.nvmlInit()
    h = nvml.nvmlDeviceGetHandleByIndex(0)
    assert isinstance(h, FakeHandle)
    assert isinstance(nvml.nvmlDeviceGetMemoryInfo(h), pynvml.c_nvmlMemory_t)
    assert isinstance(nvml.nvmlDeviceGetUtilizationRates(h), pynvml.c_nvmlUtilization_t)
    procs = nvml.nvmlDeviceGetGraphicsRunningProcesses(h)
    assert all(isinstance(p, pynvml.nvmlFriendlyObject) for p in procs)
    assert type(nvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)) is int
    assert type(nvml.nvmlDeviceGetName(h)) is str


def test_fake_raises_pynvmls_exceptions_like_pynvml() -> None:
    nvml = FakeNVML.from_fixture("h100-sxm.json")
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        nvml.nvmlDeviceGetCount()
    nvml.nvmlInit()
    h = nvml.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotSupported) as info:
        nvml.nvmlDeviceGetFanSpeed(h)
    assert info.value.value == pynvml.NVML_ERROR_NOT_SUPPORTED
    assert info.value == pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    assert str(info.value) == "Not Supported"
