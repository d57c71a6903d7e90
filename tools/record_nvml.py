#!/usr/bin/env python3
"""Record what NVML answers on this machine, as a fixture for ``tests.fakes.nvml.FakeNVML``.

Run on a machine with an NVIDIA GPU and driver (``pip install nvidia-ml-py``)::

    python tools/record_nvml.py > tests/fixtures/nvml/h100-sxm.json
    python tools/record_nvml.py --out tests/fixtures/nvml/h100-sxm.json

It calls every NVML function ``sentra.collect.gpu.GpuCollector`` calls, each on its own, and
writes the answer or the exception class (``{"error": "NVMLError_NotSupported"}``). The format:

    {
      "_source": "recorded by tools/record_nvml.py on <host> at <time>",
      "format": 1,
      "pynvml_version": "...", "driver_version": "...",
      "nvmlInit": {"return": null},
      "nvmlDeviceGetCount": {"return": 2},
      "devices": [ { "<call key>": {"return": <value>} | {"error": "<NVMLError_...>"}, ... } ]
    }

A call key is the function name, followed by the pynvml constant names of its non-handle
arguments in parentheses: ``nvmlDeviceGetClockInfo(NVML_CLOCK_SM)``. Values are JSON: ints and
strings as pynvml returns them, ctypes structures as an object of their ``_fields_``, process
lists as a list of objects with the process-info fields. Host PIDs in the process lists are
kept as they are; nothing else identifying beyond the GPU UUIDs is recorded.

When the collector starts calling a new NVML function, add it to ``DEVICE_CALLS`` here and to
``FakeNVML``; ``tests/unit/test_nvml_contract.py`` fails until both agree.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import socket
import sys
from pathlib import Path
from typing import Any

#: (function, names of the pynvml constants passed after the handle), in the order recorded.
DEVICE_CALLS: list[tuple[str, tuple[str, ...]]] = [
    ("nvmlDeviceGetName", ()),
    ("nvmlDeviceGetUUID", ()),
    ("nvmlDeviceGetUtilizationRates", ()),
    ("nvmlDeviceGetMemoryInfo", ()),
    ("nvmlDeviceGetTemperature", ("NVML_TEMPERATURE_GPU",)),
    ("nvmlDeviceGetPowerUsage", ()),
    ("nvmlDeviceGetEnforcedPowerLimit", ()),
    ("nvmlDeviceGetClockInfo", ("NVML_CLOCK_SM",)),
    ("nvmlDeviceGetClockInfo", ("NVML_CLOCK_MEM",)),
    ("nvmlDeviceGetFanSpeed", ()),
    ("nvmlDeviceGetComputeRunningProcesses", ()),
    ("nvmlDeviceGetGraphicsRunningProcesses", ()),
]


def call_key(function: str, const_names: tuple[str, ...]) -> str:
    return f"{function}({','.join(const_names)})" if const_names else function


def to_json(value: Any) -> Any:
    """pynvml return values as JSON: structures by their fields, friendly objects by __dict__."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    fields = getattr(value, "_fields_", None)
    if fields is not None:  # a ctypes Structure
        return {name: to_json(getattr(value, name)) for name, *_ in fields}
    if hasattr(value, "__dict__"):  # pynvml.nvmlFriendlyObject (process info)
        return {k: to_json(v) for k, v in vars(value).items()}
    raise TypeError(f"cannot record a {type(value).__name__}")


def outcome(nvml: Any, read: Any) -> dict[str, Any]:
    try:
        return {"return": to_json(read())}
    except nvml.NVMLError as exc:
        return {"error": type(exc).__name__}


def record(nvml: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "_source": (
            f"recorded by tools/record_nvml.py on {socket.gethostname()} "
            f"at {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}"
        ),
        "format": 1,
        "pynvml_version": importlib.metadata.version("nvidia-ml-py"),
    }
    out["nvmlInit"] = outcome(nvml, nvml.nvmlInit)
    if "error" in out["nvmlInit"]:
        out["nvmlDeviceGetCount"] = {"error": "NVMLError_Uninitialized"}
        out["devices"] = []
        return out
    try:
        out["driver_version"] = str(nvml.nvmlSystemGetDriverVersion())
        out["nvmlDeviceGetCount"] = outcome(nvml, nvml.nvmlDeviceGetCount)
        devices = []
        for index in range(out["nvmlDeviceGetCount"].get("return") or 0):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            device: dict[str, Any] = {}
            for function, const_names in DEVICE_CALLS:
                fn = getattr(nvml, function)
                args = [getattr(nvml, c) for c in const_names]
                device[call_key(function, const_names)] = outcome(
                    nvml, lambda fn=fn, args=args, handle=handle: fn(handle, *args)
                )
            devices.append(device)
        out["devices"] = devices
    finally:
        nvml.nvmlShutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", help="write the fixture here instead of stdout")
    args = parser.parse_args(argv)
    import pynvml

    text = json.dumps(record(pynvml), indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
