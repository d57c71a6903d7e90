"""Anomaly detection quality: sentra's detector against a plain 3-sigma detector, same data.

Usage: .venv/bin/python bench/anomaly_quality.py [--quick] [--seeds N] [--seed S]

The suite: real-looking host series from bench/_hostsim.py (CPU total and one core, load,
memory utilisation and bytes, a filesystem, disk and network rates, temperatures, the fan,
the process count: daily cycle, drift, bursts, rounding as the collectors publish them),
4 days at 1 s averaged to one point a minute (what a pushed or rolled-up series looks
like). Each base series is used five times: clean, and with one injected anomaly in the
evaluated part (the last 1.5 days; the first 2.5 teach both detectors):

* spike: 1-3 points at +6..12 reference sigmas;
* level shift: +/-3..6 sigma for 1-4 hours, then back;
* slow leak: a ramp to +6..10 sigma over 4-8 hours, then back (a restart);
* saturation: pinned at the series' highest training value (1.0 for a ratio that went
  over 0.9) for 30-120 min.

The reference sigma is the MAD of the series minus its 1-hour rolling median (x 1.4826),
so magnitudes are "sigmas of the local noise", whatever the series' unit.

Detectors: ``sentra`` is ``analysis.anomaly.Detector`` with its defaults (the anomaly bit);
``3sigma`` flags a point more than 3 standard deviations from the mean of the previous
120 points (2 hours; the usual rolling z-score, no persistence). ``3sigma_matched`` is the
same rolling test at the smallest k (of 3, 4, 5, 6, 8, 10, 15, 20, 30) whose false alarms
on the clean series are no more than sentra's: recall at the same alarm budget (at k = 3
the plain test fires so often that it "detects" long events by chance).

An event counts as detected if the bit is on at any point from its start to 10 points
after its end; its delay is the first such point minus the start (minutes). A false
positive is an alarm onset (bit turning on) outside every event window in the evaluated
part. Per class: recall, precision = detected / (detected + false positives of that
class's series), median delay; the clean class reports false alarms per series-day.

Fresh start (``fresh_start``): every series a host publishes (the whole ``HostSim`` set,
less what ``[insight] exclude`` leaves out by default) at its real resolution, one sample a
second, observed from its very first sample for one hour, as on a node started with an
empty data dir. Nothing is injected: every alarm onset is false. Reported: onsets, series
that ever alarmed, and the onsets of the 3-sigma test on the same data (from its 120th
point) for scale.
"""

from __future__ import annotations

import argparse
import fnmatch
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from _common import emit, log, machine, median, target
from _hostsim import HostSim
from sentra.analysis.anomaly import Detector
from sentra.config import InsightSettings

F64 = npt.NDArray[np.float64]
STEP = 60  # seconds per point
DAYS = 4
TRAIN_DAYS = 2.5
GRACE = 10  # points after an event's end that still count as detecting it
WINDOW_3S = 120
METHODS = ("sentra", "3sigma", "3sigma_matched")
K_GRID = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0)
FRESH_S = 3600  # seconds a fresh start is watched, one sample a second
CLASSES = ("clean", "spike", "level_shift", "slow_leak", "saturation")
SERIES = [
    ("system.cpu.utilization", {"cpu": "total"}),
    ("system.cpu.utilization", {"cpu": "0"}),
    ("system.cpu.load_average.1m", {}),
    ("system.memory.utilization", {}),
    ("system.memory.usage", {"state": "used"}),
    ("system.filesystem.utilization", {"device": "/dev/nvme0n1p1", "mountpoint": "/"}),
    ("system.disk.io.rate", {"device": "nvme0n1", "direction": "write"}),
    ("system.network.io.rate", {"device": "eth0", "direction": "receive"}),
    ("hw.temperature", {"chip": "coretemp", "sensor": "temp1"}),
    ("hw.temperature", {"chip": "nvme", "sensor": "temp6"}),
    ("hw.fan.speed", {"chip": "nct6775", "sensor": "fan1"}),
    ("system.processes.count", {}),
]


def base_series(seed: int, days: float) -> list[tuple[str, F64]]:
    sim = HostSim(seed=seed)
    n = int(days * 86_400)
    values = sim.generate(n)
    out = []
    for name, labels in SERIES:
        idx = next(i for i, s in enumerate(sim.specs) if s.name == name and s.labels == labels)
        per_min = values[idx][: n - n % STEP].reshape(-1, STEP).mean(axis=1)
        key = name + (str(sorted(labels.items())) if labels else "")
        out.append((key, per_min))
    return out


def reference_sigma(x: F64) -> float:
    k = 60
    pad = np.pad(x, (k // 2, k - k // 2 - 1), mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(pad, k), axis=1)
    resid = x - med
    mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
    return mad if mad > 0 else max(float(np.std(resid)), 1e-9)


def inject(
    x: F64, kind: str, rng: np.random.Generator, start_at: int
) -> tuple[F64, tuple[int, int] | None]:
    """A copy of ``x`` with one anomaly of ``kind``; its [start, end) in points."""
    y = x.copy()
    if kind == "clean":
        return y, None
    sigma = reference_sigma(x[:start_at])
    n = len(x)
    sign = 1.0 if rng.random() < 0.7 else -1.0
    if kind == "spike":
        length = int(rng.integers(1, 4))
        s = int(rng.integers(start_at + 60, n - 60))
        y[s : s + length] += rng.uniform(6, 12) * sigma
    elif kind == "level_shift":
        length = int(rng.integers(60, 241))
        s = int(rng.integers(start_at + 60, n - length - 20))
        y[s : s + length] += sign * rng.uniform(3, 6) * sigma
    elif kind == "slow_leak":
        length = int(rng.integers(240, 481))
        s = int(rng.integers(start_at + 60, n - length - 20))
        y[s : s + length] += np.linspace(0, rng.uniform(6, 10), length) * sigma
    else:  # saturation
        length = int(rng.integers(30, 121))
        s = int(rng.integers(start_at + 60, n - length - 20))
        top = float(np.max(x[:start_at]))
        cap = 1.0 if 0.9 < top <= 1.0 else top
        y[s : s + length] = cap
    return y, (s, s + length)


def detect_sentra(t: F64, y: F64) -> tuple[npt.NDArray[np.bool_], float]:
    d = Detector()
    bits = np.zeros(len(y), dtype=bool)
    started = time.perf_counter()
    for i, (ts, v) in enumerate(zip(t.tolist(), y.tolist(), strict=True)):
        d.update(ts, v)
        bits[i] = d.anomalous
    return bits, time.perf_counter() - started


def detect_3sigma(y: F64, k: float = 3.0, window: int = WINDOW_3S) -> npt.NDArray[np.bool_]:
    c1 = np.concatenate([[0.0], np.cumsum(y)])
    c2 = np.concatenate([[0.0], np.cumsum(y * y)])
    bits = np.zeros(len(y), dtype=bool)
    i = np.arange(window, len(y))
    mean = (c1[i] - c1[i - window]) / window
    var = np.maximum((c2[i] - c2[i - window]) / window - mean * mean, 0.0)
    std = np.sqrt(var)
    bits[window:] = np.abs(y[window:] - mean) > k * np.maximum(std, 1e-12)
    return bits


def score(
    bits: npt.NDArray[np.bool_], event: tuple[int, int] | None, eval_from: int
) -> tuple[bool, float | None, int]:
    """(detected, delay in points, false-positive onsets) of one series."""
    onsets = np.flatnonzero(bits[1:] & ~bits[:-1]) + 1
    if bits[0]:
        onsets = np.concatenate([[0], onsets])
    onsets = onsets[onsets >= eval_from]
    detected, delay = False, None
    if event is not None:
        s, e = event
        hits = np.flatnonzero(bits[s : e + GRACE])
        if hits.size:
            detected, delay = True, float(hits[0])
        onsets = onsets[(onsets < s) | (onsets >= e + GRACE)]
    return detected, delay, int(onsets.size)


def fresh_start(seeds: list[int]) -> dict[str, Any]:
    """False alarms of every host series in its first hour, from its first sample."""
    exclude = InsightSettings().exclude
    t = 1_700_000_000.0 + np.arange(FRESH_S, dtype=np.float64)
    series = onsets = flagged = onsets_3s = 0
    first_10_min = 0
    names: dict[str, int] = {}
    for seed in seeds:
        sim = HostSim(seed=seed)
        values = sim.generate(FRESH_S)
        for spec, y in zip(sim.specs, values, strict=True):
            if any(fnmatch.fnmatchcase(spec.name, p) for p in exclude):
                continue
            bits, _ = detect_sentra(t, y)
            _, _, fp = score(bits, None, 0)
            series += 1
            onsets += fp
            flagged += int(fp > 0)
            first_10_min += int(bits[:600].any())
            if fp:
                names[spec.name] = names.get(spec.name, 0) + fp
            onsets_3s += score(detect_3sigma(y), None, WINDOW_3S)[2]
    return {
        "series": series,
        "seconds": FRESH_S,
        "false_alarms": onsets,
        "series_flagged": flagged,
        "series_flagged_first_10_min": first_10_min,
        "false_alarms_per_series_hour": round(onsets / max(series, 1) / (FRESH_S / 3600), 3),
        "false_alarms_by_name": dict(sorted(names.items(), key=lambda kv: -kv[1])),
        "3sigma_false_alarms": onsets_3s,
    }


def run(seeds: list[int], days: float) -> dict[str, Any]:
    methods = ["sentra", *(f"3sigma_k{k:g}" for k in K_GRID)]
    per: dict[str, dict[str, dict[str, Any]]] = {
        m: {c: {"events": 0, "detected": 0, "fp": 0, "delays": [], "series": 0} for c in CLASSES}
        for m in methods
    }
    n_points, spent = 0, 0.0
    eval_days = days - TRAIN_DAYS
    for seed in seeds:
        log(f"seed {seed}: generating {days:g} days of host series")
        rng = np.random.default_rng(1000 + seed)
        for _key, x in base_series(seed, days):
            t = 1_700_000_000.0 + STEP * np.arange(len(x), dtype=np.float64)
            eval_from = int(TRAIN_DAYS * 86_400 / STEP)
            for kind in CLASSES:
                y, event = inject(x, kind, rng, eval_from)
                bits_s, took = detect_sentra(t, y)
                spent += took
                n_points += len(y)
                found = [("sentra", bits_s)]
                found += [(f"3sigma_k{k:g}", detect_3sigma(y, k)) for k in K_GRID]
                for method, bits in found:
                    detected, delay, fp = score(bits, event, eval_from)
                    r = per[method][kind]
                    r["series"] += 1
                    r["fp"] += fp
                    if event is not None:
                        r["events"] += 1
                        r["detected"] += int(detected)
                        if delay is not None:
                            r["delays"].append(delay * STEP / 60)
    out: dict[str, Any] = {}
    for method, classes in per.items():
        rows: dict[str, Any] = {}
        tp_all = fp_all = ev_all = 0
        for kind, r in classes.items():
            tp_all += r["detected"]
            fp_all += r["fp"]
            ev_all += r["events"]
            row: dict[str, Any] = {
                "series": r["series"],
                "false_alarms": r["fp"],
                "false_alarms_per_series_day": round(r["fp"] / (r["series"] * eval_days), 3),
            }
            if kind != "clean":
                row["events"] = r["events"]
                row["recall"] = round(r["detected"] / r["events"], 3)
                row["precision"] = round(r["detected"] / max(r["detected"] + r["fp"], 1), 3)
                row["median_delay_min"] = round(median(r["delays"]), 1) if r["delays"] else None
            rows[kind] = row
        rows["all"] = {
            "recall": round(tp_all / max(ev_all, 1), 3),
            "precision": round(tp_all / max(tp_all + fp_all, 1), 3),
            "false_alarms": fp_all,
        }
        out[method] = rows
    # The plain detector at k = 3, and at the smallest k whose false alarms on the clean
    # series are no more than sentra's (the same alarm budget: recall is then comparable).
    budget = out["sentra"]["clean"]["false_alarms_per_series_day"]
    clean = {k: out[f"3sigma_k{k:g}"]["clean"]["false_alarms_per_series_day"] for k in K_GRID}
    matched = next((k for k in K_GRID if clean[k] <= budget), K_GRID[-1])
    result = {
        "sentra": out["sentra"],
        "3sigma": out["3sigma_k3"],
        "3sigma_matched": {"k": matched, **out[f"3sigma_k{matched:g}"]},
        "sentra_us_per_sample": round(spent / max(n_points, 1) * 1e6, 2),
    }
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one seed (about 20 s)")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    seeds = [args.seed] if args.quick else [args.seed + i for i in range(args.seeds)]
    started = time.time()
    results = run(seeds, DAYS)
    log("fresh start: every host series from its first sample, one hour at 1 s")
    fresh = fresh_start(seeds)
    s, b, m = (results[k]["all"] for k in METHODS)
    f1 = [2 * r["precision"] * r["recall"] / max(r["precision"] + r["recall"], 1e-9)
          for r in (s, b, m)]  # fmt: skip
    result = {
        "bench": "anomaly_quality",
        "machine": machine(),
        "seeds": seeds,
        "series_per_class": len(SERIES) * len(seeds),
        "points_per_series": int(DAYS * 86_400 / STEP),
        "evaluated_days": DAYS - TRAIN_DAYS,
        "results": results,
        "fresh_start": fresh,
        "f1": {k: round(v, 3) for k, v in zip(METHODS, f1, strict=True)},
        "targets": {
            "f1_above_3sigma": target(f1[0], max(f1[1], f1[2]), at_most=False),
            "fresh_start_false_alarms_per_series_hour": target(
                fresh["false_alarms_per_series_hour"], 0.05
            ),
        },
        "wall_s": round(time.time() - started, 1),
    }
    emit(
        result,
        f"anomaly quality: sentra precision {s['precision']:.2f} recall {s['recall']:.2f} "
        f"(F1 {f1[0]:.2f}, {s['false_alarms']} false alarms) vs 3-sigma precision "
        f"{b['precision']:.2f} recall {b['recall']:.2f} (F1 {f1[1]:.2f}, "
        f"{b['false_alarms']} false alarms); 3-sigma at sentra's false-alarm rate (k = "
        f"{results['3sigma_matched']['k']:g}) recall {m['recall']:.2f} (F1 {f1[2]:.2f}); "
        f"{results['sentra_us_per_sample']} us/sample; fresh start: {fresh['false_alarms']} "
        f"false alarms on {fresh['series_flagged']} of {fresh['series']} series in the first "
        f"hour (3-sigma: {fresh['3sigma_false_alarms']})",
    )


if __name__ == "__main__":
    main()
