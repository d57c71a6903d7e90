from sentra.collect.host import CpuMemoryCollector, FilesystemCollector, SensorsCollector


def _sys_tree(root):
    hw = root / "class" / "hwmon" / "hwmon0"
    hw.mkdir(parents=True)
    (hw / "name").write_text("coretemp\n")
    (hw / "temp1_input").write_text("45500\n")
    (hw / "temp1_label").write_text("Package id 0\n")
    (hw / "temp2_input").write_text("garbage\n")  # a broken field is skipped
    (hw / "fan1_input").write_text("1200\n")
    return hw


def test_sensors_read_hwmon_under_the_configured_sys_root(tmp_path):
    _sys_tree(tmp_path)
    samples = SensorsCollector(tmp_path).collect(100.0)
    got = {(s.name, s.labels["sensor"]): s.value for s in samples}
    assert got == {("hw.temperature", "Package id 0"): 45.5, ("hw.fan.speed", "fan1"): 1200.0}
    assert all(s.ts == 100.0 for s in samples)


def test_sensors_fall_back_to_thermal_zones(tmp_path):
    zone = tmp_path / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("38000")
    (zone / "type").write_text("acpitz")
    (s,) = SensorsCollector(tmp_path).collect(1.0)
    assert (s.name, s.labels, s.value) == (
        "hw.temperature",
        {"chip": "thermal", "sensor": "acpitz"},
        38.0,
    )


def test_sensor_discovery_is_cached_but_values_are_fresh(tmp_path):
    hw = _sys_tree(tmp_path)
    c = SensorsCollector(tmp_path, refresh_s=60)
    c.collect(0.0)
    (hw / "temp1_input").write_text("50000")
    (hw / "temp3_input").write_text("1000")  # new sensor: seen at the next refresh
    values = {s.labels["sensor"]: s.value for s in c.collect(1.0)}
    assert values["Package id 0"] == 50.0 and "temp3" not in values
    assert "temp3" in {s.labels["sensor"] for s in c.collect(61.0)}


def test_cpu_and_memory_readings_are_sane():
    samples = CpuMemoryCollector().collect(5.0)
    by = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}
    assert 0 <= by[("system.cpu.utilization", (("cpu", "total"),))] <= 1
    assert by[("system.memory.limit", ())] > 0
    assert by[("system.processes.count", ())] > 1


def test_filesystem_rates_appear_from_the_second_reading():
    c = FilesystemCollector()
    first = c.collect(10.0)
    assert any(s.name == "system.filesystem.usage" for s in first)
    assert not any(s.name == "system.disk.io.rate" for s in first)
    second = c.collect(11.0)
    assert all(s.value >= 0 for s in second if s.name.endswith(".rate"))
