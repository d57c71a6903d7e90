"""GpuCollector against FakeNVML replaying recorded (or recorder-format) NVML answers."""

from __future__ import annotations

from pathlib import Path

import pynvml
import pytest

from sentra.collect.base import CollectorUnavailable
from sentra.collect.gpu import GpuCollector
from sentra.events import Sample
from tests.fakes.nvml import FakeHandle, FakeNVML, load_fixture

NOW = 1_714_550_400.0
H100_0 = {
    "gpu": "0",
    "uuid": "GPU-8c3f2a71-5d0e-4b9a-a6f1-2e7d94c0b513",
    "name": "NVIDIA H100 80GB HBM3",
}
H100_1 = {
    "gpu": "1",
    "uuid": "GPU-1b6e9d04-7a2c-4f85-9e3b-c5a81f2d6e70",
    "name": "NVIDIA H100 80GB HBM3",
}


def by_series(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for s in samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        assert key not in out, f"duplicate series {key}"
        out[key] = s.value
    return out


def value(samples: list[Sample], metric: str, /, **labels: str) -> float:
    matches = [s.value for s in samples if s.name == metric and labels.items() <= s.labels.items()]
    assert len(matches) == 1, f"{metric} {labels}: {matches}"
    return matches[0]


def names(samples: list[Sample], **labels: str) -> set[str]:
    return {s.name for s in samples if labels.items() <= s.labels.items()}


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    """A /proc where only PID 48213 (the H100 trainer) is visible."""
    (tmp_path / "48213").mkdir()
    (tmp_path / "48213" / "comm").write_text("python3\n")
    return tmp_path


def test_h100_readings_come_from_the_fixture(proc_root: Path) -> None:
    c = GpuCollector(FakeNVML.from_fixture("h100-sxm.json"), proc_root=proc_root)
    samples = c.collect(NOW)
    series = by_series(samples)
    key0 = tuple(sorted(H100_0.items()))

    assert series[("gpu.utilization", key0)] == 0.97
    assert series[("gpu.memory.busy", key0)] == 0.58
    assert series[("gpu.memory.total", key0)] == 85_520_809_984
    assert series[("gpu.memory.used", key0)] == 75247 * 1024 * 1024
    assert series[("gpu.memory.utilization", key0)] == 0.923  # 75247 / 81559 MiB
    assert series[("gpu.temperature", key0)] == 63
    assert series[("gpu.power.draw", key0)] == 612.4  # 612437 mW, to 0.1 W
    assert series[("gpu.power.limit", key0)] == 700.0
    assert series[("gpu.clock.sm", key0)] == 1980
    assert series[("gpu.clock.memory", key0)] == 2619

    assert value(samples, "gpu.utilization", gpu="1") == 0.0
    assert value(samples, "gpu.power.draw", **H100_1) == 71.2
    assert value(samples, "gpu.clock.sm", gpu="1") == 345
    assert all(s.ts == NOW for s in samples)


def test_fan_not_supported_on_h100_yields_no_sample_but_the_rest(proc_root: Path) -> None:
    c = GpuCollector(FakeNVML.from_fixture("h100-sxm.json"), proc_root=proc_root)
    samples = c.collect(NOW)
    assert "gpu.fan.speed" not in names(samples)
    assert names(samples, gpu="0") >= {
        "gpu.utilization",
        "gpu.memory.used",
        "gpu.memory.total",
        "gpu.memory.utilization",
        "gpu.temperature",
        "gpu.power.draw",
        "gpu.power.limit",
        "gpu.clock.sm",
        "gpu.clock.memory",
        "gpu.process.memory.used",
    }


def test_vgpu_without_power_and_fan_keeps_every_other_reading() -> None:
    c = GpuCollector(
        FakeNVML.from_fixture("a10-vgpu-no-power-no-fan.json"), proc_root="/nonexistent"
    )
    samples = c.collect(NOW)
    got = names(samples)
    assert {"gpu.power.draw", "gpu.power.limit", "gpu.fan.speed"}.isdisjoint(got)
    assert value(samples, "gpu.utilization") == 0.41
    assert value(samples, "gpu.temperature") == 47
    assert value(samples, "gpu.clock.memory") == 6251
    assert value(samples, "gpu.memory.used") == 9216 * 1024 * 1024


def test_fan_speed_is_a_ratio_where_the_card_has_a_fan() -> None:
    c = GpuCollector(FakeNVML.from_fixture("rtx4090-workstation.json"), proc_root="/nonexistent")
    assert value(c.collect(NOW), "gpu.fan.speed", gpu="0") == 0.62


def test_one_failing_field_does_not_lose_the_others(proc_root: Path) -> None:
    fixture = load_fixture("h100-sxm.json")
    fixture["devices"][0]["nvmlDeviceGetMemoryInfo"] = {"error": "NVMLError_Unknown"}
    samples = GpuCollector(FakeNVML(fixture), proc_root=proc_root).collect(NOW)
    assert not {"gpu.memory.used", "gpu.memory.total"} & names(samples, gpu="0")
    assert value(samples, "gpu.memory.used", gpu="1") == 530 * 1024 * 1024
    assert value(samples, "gpu.temperature", gpu="0") == 63


def test_processes_visible_here_are_named_and_local(proc_root: Path) -> None:
    samples = GpuCollector(FakeNVML.from_fixture("h100-sxm.json"), proc_root=proc_root).collect(NOW)
    [s] = [s for s in samples if s.name == "gpu.process.memory.used" and s.labels["gpu"] == "0"]
    assert s.labels == {
        "gpu": "0",
        "uuid": H100_0["uuid"],
        "pid": "48213",
        "process": "python3",
        "pid_namespace": "local",
    }
    assert s.value == 74752 * 1024 * 1024


def test_host_pid_not_visible_in_our_proc_is_kept_and_labelled_host(proc_root: Path) -> None:
    samples = GpuCollector(FakeNVML.from_fixture("h100-sxm.json"), proc_root=proc_root).collect(NOW)
    [s] = [s for s in samples if s.name == "gpu.process.memory.used" and s.labels["gpu"] == "1"]
    assert s.labels == {"gpu": "1", "uuid": H100_1["uuid"], "pid": "51007", "pid_namespace": "host"}
    assert s.value == 512 * 1024 * 1024


def test_compute_and_graphics_processes_are_deduplicated_by_pid(tmp_path: Path) -> None:
    for pid, comm in ((1432, "Xorg"), (7781, "blender")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    c = GpuCollector(FakeNVML.from_fixture("rtx4090-workstation.json"), proc_root=tmp_path)
    procs = {
        s.labels["process"]: s.value for s in c.collect(NOW) if s.name == "gpu.process.memory.used"
    }
    assert procs == {"Xorg": 412 * 1024 * 1024, "blender": 12288 * 1024 * 1024}


def test_library_missing_is_unavailable_with_a_hint() -> None:
    fixture = load_fixture("h100-sxm.json")
    fixture["nvmlInit"] = {"error": "NVMLError_LibraryNotFound"}
    c = GpuCollector(FakeNVML(fixture))
    with pytest.raises(CollectorUnavailable, match=r"NVML library .* not found.*--gpus all"):
        c.collect(NOW)


def test_driver_not_loaded_is_unavailable_with_a_hint() -> None:
    fixture = load_fixture("h100-sxm.json")
    fixture["nvmlInit"] = {"error": "NVMLError_DriverNotLoaded"}
    with pytest.raises(CollectorUnavailable, match="driver not loaded"):
        GpuCollector(FakeNVML(fixture)).collect(NOW)


def test_zero_devices_is_unavailable_and_nvml_is_shut_down() -> None:
    fixture = load_fixture("h100-sxm.json")
    fixture["nvmlDeviceGetCount"] = {"return": 0}
    nvml = FakeNVML(fixture)
    with pytest.raises(CollectorUnavailable, match=r"^no NVIDIA GPU found$"):
        GpuCollector(nvml).collect(NOW)
    assert nvml.calls[-1] == "nvmlShutdown"
    assert not nvml.initialized


def test_init_is_retried_at_most_every_60_seconds() -> None:
    fixture = load_fixture("h100-sxm.json")
    fixture["nvmlInit"] = {"error": "NVMLError_DriverNotLoaded"}
    nvml = FakeNVML(fixture)
    c = GpuCollector(nvml, proc_root="/nonexistent")
    for t in (0.0, 10.0, 59.9):
        with pytest.raises(CollectorUnavailable):
            c.collect(NOW + t)
    assert nvml.calls.count("nvmlInit") == 1

    nvml.fixture["nvmlInit"] = {"return": None}  # the driver got loaded
    assert c.collect(NOW + 60.0)
    assert nvml.calls.count("nvmlInit") == 2
    c.collect(NOW + 70.0)
    assert nvml.calls.count("nvmlInit") == 2


def test_init_is_lazy_and_close_shuts_nvml_down(proc_root: Path) -> None:
    nvml = FakeNVML.from_fixture("h100-sxm.json")
    c = GpuCollector(nvml, proc_root=proc_root)
    assert nvml.calls == []
    c.collect(NOW)
    c.close()
    assert nvml.calls.count("nvmlInit") == 1
    assert nvml.calls[-1] == "nvmlShutdown"
    c.close()  # idempotent
    assert nvml.calls.count("nvmlShutdown") == 1


def test_other_init_errors_are_errors_not_absence() -> None:
    fixture = load_fixture("h100-sxm.json")
    fixture["nvmlInit"] = {"error": "NVMLError_Unknown"}
    with pytest.raises(RuntimeError, match="NVML initialisation failed") as info:
        GpuCollector(FakeNVML(fixture)).collect(NOW)
    assert not isinstance(info.value, CollectorUnavailable)


def test_a_gpu_that_cannot_be_opened_does_not_hide_the_others(proc_root: Path) -> None:
    class OneLostGpu(FakeNVML):
        def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
            if index == 0:
                raise pynvml.NVMLError_GpuIsLost()
            return super().nvmlDeviceGetHandleByIndex(index)

    samples = GpuCollector(OneLostGpu(load_fixture("h100-sxm.json")), proc_root=proc_root).collect(
        NOW
    )
    assert {s.labels["gpu"] for s in samples} == {"1"}
    assert value(samples, "gpu.temperature") == 31
