"""The insight service: baselines and anomaly scores of every series, stress, stability and
predictions of every host, fed by the bus and kept on the machine.

In: every sample on ``metrics.>`` (collector ticks on ``metrics.collect.*``; ingested and
OTLP metrics on ``metrics.<source>`` once they are stored). Each series gets a
``Detector`` (sentra.analysis.anomaly) in a bounded LRU table (``max_series``; the least
recently seen series is forgotten first), and at most ``max_samples_per_s`` samples are
analysed per second (the rest are skipped and counted), so memory and CPU stay bounded
whatever arrives. A series' host is its ``host`` label, else this node's host name.

Out, every ``emit_interval_s``, written through the ingest writer (so they are stored and
then published on ``metrics.insight`` for the live stream, like any ingested series):

* ``sentra.anomaly.score{series=<name>, <its labels>}``: the highest score of the series
  since the previous write (0-1; 1 = anomalous);
* ``sentra.anomaly.rate{host}``: % of the host's series anomalous now;
* ``sentra.host.stress{host}``, ``sentra.host.stability{host}``: 0-100
  (sentra.analysis.hostscore);
* ``sentra.predict.disk_full_hours{host, mountpoint, device}``,
  ``sentra.predict.memory_full_hours{host}``: when the trend reaches 100 % (only while
  it heads there), ``sentra.predict.memory_trend{host}``: percentage points per hour.

A new series is ``learning`` for its first ``warmup_samples`` samples and ``warmup_s``
seconds (sentra.analysis.anomaly): it is never anomalous then and its samples count
towards neither the anomaly rate nor stability, so a host whose series are all learning
has no stability (``null``), not a made-up 100 or 0.

Persistence: ``state/baselines.msgpack`` every ``persist_interval_s`` (encoded on the loop:
~11 ms for 5 MB at the default cap of 5,000 series; written on a worker thread) and at a
clean stop; restored at start (insight/persist.py).
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentra.analysis.anomaly import Detector, DetectorParams
from sentra.analysis.baseline import BaselineParams
from sentra.analysis.hostscore import StabilityWindow, pressure_key, resource_of, stress
from sentra.analysis.predict import Trend
from sentra.bus.base import Subscription
from sentra.config import InsightSettings
from sentra.events import Labels, Sample, Samples, series_key
from sentra.insight import persist
from sentra.insight.persist import SeriesState, Snapshot, TrendState

log = logging.getLogger(__name__)
SOURCE = "insight"
_YIELD_EVERY = 2000  # samples analysed between two yields to the event loop
_ANOMALOUS_SHOWN = 50  # per host, in the overview
_NAME_CACHE_MAX = 10_000


@dataclass
class _Series:
    name: str
    labels: Labels
    host: str
    detector: Detector
    peak: float = 0.0  # highest score since the last write
    fresh: bool = False  # scored since the last write
    second: float = -1.0  # the whole second of the last sample scored


@dataclass
class _Host:
    window: StabilityWindow
    pressures: dict[str, float] = field(default_factory=dict)
    trends: dict[str, TrendState] = field(default_factory=dict)
    scored: int = 0  # samples since the last write
    anomalous: int = 0
    seen: bool = False
    latest: dict[str, Any] = field(default_factory=dict)  # the overview as of the last write


class InsightService:
    def __init__(
        self,
        settings: InsightSettings,
        *,
        path: Path,
        host: str,
        submit: Callable[[list[Sample]], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.path = path
        self.host = host
        self.submit = submit
        self.clock = clock
        self.params = DetectorParams(
            baseline=BaselineParams(warmup=settings.warmup_samples, warmup_s=settings.warmup_s),
            z_point=settings.z_point,
            fast_l=settings.shift_sigmas,
        )
        self.series: OrderedDict[str, _Series] = OrderedDict()
        self.hosts: dict[str, _Host] = {}
        self._excluded: dict[str, bool] = {}
        self._allowance = float(settings.max_samples_per_s)
        self._refilled = clock()
        self.analysed = 0
        self.skipped = 0
        self.evicted = 0
        self.thinned = 0  # samples passed over: their series was scored in that second
        self.resets = 0
        self._keys: dict[tuple[Any, ...], str] = {}
        snap, self.restored = persist.load(path)
        if snap is not None:
            self._restore(snap)

    # ------------------------------------------------------------------ state

    def _restore(self, snap: Snapshot) -> None:
        for s in snap.series[-self.settings.max_series :]:
            key = series_key(s.name, s.labels)
            self.series[key] = _Series(s.name, s.labels, s.host, s.detector)
        for host, trends in snap.trends.items():
            self._host(host).trends.update(trends)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            saved_at=self.clock(),
            series=[
                SeriesState(s.name, s.labels, s.host, s.detector) for s in self.series.values()
            ],
            trends={h: dict(st.trends) for h, st in self.hosts.items() if st.trends},
        )

    def save_sync(self) -> None:
        """Write the baselines now, on the calling thread (the clean stop)."""
        persist.save(self.path, persist.encode(self.snapshot()))

    async def save(self) -> None:
        """Encode on the loop (the state is the loop's), fsync on a worker thread."""
        data = persist.encode(self.snapshot())
        await asyncio.to_thread(persist.save, self.path, data)

    def reset(self, *, host: str | None = None, series: str | None = None) -> int:
        """Forget learnt baselines: all, one host's, or one series' (by name or by its
        ``name{k="v"}`` key). Returns how many series were forgotten."""
        drop = [
            key
            for key, s in self.series.items()
            if (host is None or s.host == host) and (series is None or series in (s.name, key))
        ]
        for key in drop:
            del self.series[key]
        if series is None:
            for name, h in self.hosts.items():
                if host is None or name == host:
                    h.trends.clear()
                    h.window.clear()
                    h.latest = {}
        self.resets += 1
        log.info("baselines reset (host=%s, series=%s): %d forgotten", host, series, len(drop))
        return len(drop)

    def _host(self, name: str) -> _Host:
        h = self.hosts.get(name)
        if h is None:
            h = self.hosts[name] = _Host(StabilityWindow(self.settings.stability_window_s))
        return h

    # ------------------------------------------------------------------ input

    def excluded(self, name: str) -> bool:
        hit = self._excluded.get(name)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(name, p) for p in self.settings.exclude)
            if len(self._excluded) >= _NAME_CACHE_MAX:
                self._excluded.clear()
            self._excluded[name] = hit
        return hit

    def admit(self, n: int, now: float) -> bool:
        """Whether a batch of ``n`` samples fits the per-second budget (token bucket)."""
        rate = float(self.settings.max_samples_per_s)
        self._allowance = min(rate, self._allowance + (now - self._refilled) * rate)
        self._refilled = now
        if self._allowance <= 0:
            self.skipped += n
            return False
        self._allowance -= n
        return True

    def observe(self, samples: Sequence[Sample]) -> None:
        """Score and learn a batch of samples: at most one per series and second (the
        first of the second; the models work at one-second resolution, as Netdata's do),
        so a series ingested at hundreds of samples a second costs what a collector's
        does and the rest only a dictionary lookup."""
        params = self.params
        table = self.series
        keys = self._keys
        for s in samples:
            value = s.value
            if not math.isfinite(value):
                continue
            # The canonical key once per label ordering seen (it sorts the labels).
            probe = (s.name, *s.labels.items())
            key = keys.get(probe)
            if key is None:
                if self.excluded(s.name):
                    continue
                if len(keys) >= _NAME_CACHE_MAX:
                    keys.clear()
                key = keys[probe] = series_key(s.name, s.labels)
            tracked = table.get(key)
            if tracked is None:
                host_name = s.labels.get("host") or self.host
                tracked = table[key] = _Series(s.name, s.labels, host_name, Detector())
                if len(table) > self.settings.max_series:
                    table.popitem(last=False)
                    self.evicted += 1
            second = math.floor(s.ts)
            if second == tracked.second:
                self.thinned += 1
                continue
            tracked.second = second
            table.move_to_end(key)
            host_name = tracked.host
            detector = tracked.detector
            score = detector.update(s.ts, value, params)
            tracked.fresh = True
            tracked.peak = max(tracked.peak, score)
            host = self._host(host_name)
            host.seen = True
            if not detector.learning:  # a series still learning is no evidence either way
                host.scored += 1
                host.anomalous += detector.anomalous
            resource = resource_of(s.name, s.labels)
            if resource is not None:
                host.pressures[pressure_key(resource, s.labels)] = value
                if resource in ("disk", "memory"):
                    self._trend(host, resource, s)
        self.analysed += len(samples)

    def _trend(self, host: _Host, resource: str, s: Sample) -> None:
        key = pressure_key(resource, s.labels)
        st = host.trends.get(key)
        if st is None:
            labels: Labels = {k: s.labels[k] for k in ("mountpoint", "device") if k in s.labels}
            st = host.trends[key] = TrendState(resource, labels, Trend())
        st.trend.add(s.ts, s.value)

    async def run(self, sub: Subscription) -> None:
        """Consume the bus (``metrics.>``), skipping this service's own output."""
        async for topic, event in sub:
            if not isinstance(event, Samples) or event.source == SOURCE or not event.samples:
                continue
            if not self.settings.ingested and not topic.startswith("metrics.collect."):
                continue
            if not self.admit(len(event.samples), self.clock()):
                continue
            for i in range(0, len(event.samples), _YIELD_EVERY):
                self.observe(event.samples[i : i + _YIELD_EVERY])
                if i + _YIELD_EVERY < len(event.samples):
                    await asyncio.sleep(0)

    # ----------------------------------------------------------------- output

    def tick(self, now: float) -> list[Sample]:
        """The insight series as of ``now`` (and the overview the API serves)."""
        out: list[Sample] = []
        per_host: dict[str, list[int]] = {}  # host -> [tracked, anomalous now, learning]
        anomalous: dict[str, list[dict[str, Any]]] = {}
        for s in self.series.values():
            counts = per_host.setdefault(s.host, [0, 0, 0])
            counts[0] += 1
            counts[2] += s.detector.learning
            if s.detector.anomalous:
                counts[1] += 1
                shown = anomalous.setdefault(s.host, [])
                if len(shown) < _ANOMALOUS_SHOWN:
                    shown.append({"series": s.name, "labels": s.labels, "since": s.detector.since})
            if s.fresh:
                labels = {**s.labels, "series": s.name}
                out.append(Sample("sentra.anomaly.score", labels, now, round(s.peak, 3)))
                s.peak, s.fresh = 0.0, False
        for name in [n for n, h in self.hosts.items() if not h.seen and n not in per_host]:
            del self.hosts[name]  # every series of it was forgotten: so is the host
        for name, h in self.hosts.items():
            if not h.seen:
                continue
            h.window.add(now, h.anomalous, h.scored)
            h.seen, h.scored, h.anomalous = False, 0, 0
            tracked, bad, learning = per_host.get(name, [0, 0, 0])
            judged = tracked - learning
            hl = {"host": name}
            latest: dict[str, Any] = {
                "host": name,
                "ts": now,
                "series": tracked,
                "learning": learning,
                "anomaly_rate_pct": round(100.0 * bad / judged, 2) if judged else None,
                "stress": stress(h.pressures),
                "stability": h.window.value(),  # None: every series is still learning
                "anomalous": anomalous.get(name, []),
            }
            for metric, value in (
                ("sentra.anomaly.rate", latest["anomaly_rate_pct"]),
                ("sentra.host.stress", latest["stress"]),
                ("sentra.host.stability", latest["stability"]),
            ):
                if value is not None:
                    out.append(Sample(metric, hl, now, value))
            latest["predictions"] = self._predict(name, h, now, out)
            h.latest = latest
        return out

    def _predict(self, host: str, h: _Host, now: float, out: list[Sample]) -> dict[str, Any]:
        disks: list[dict[str, Any]] = []
        found: dict[str, Any] = {"disk_full_hours": disks}
        for st in h.trends.values():
            labels = {"host": host, **st.labels}
            hours = st.trend.hours_until(1.0)
            if st.kind == "disk":
                if hours is not None:
                    out.append(Sample("sentra.predict.disk_full_hours", labels, now, hours))
                disks.append({**st.labels, "hours": hours})
                continue
            slope = st.trend.slope_per_hour()
            trend = None if slope is None else round(slope * 100, 3)
            found["memory_full_hours"] = hours
            found["memory_trend_pct_per_hour"] = trend
            if hours is not None:
                out.append(Sample("sentra.predict.memory_full_hours", labels, now, hours))
            if trend is not None:
                out.append(Sample("sentra.predict.memory_trend", labels, now, trend))
        return found

    def overview(self) -> dict[str, Any]:
        """Per host: stress, stability, anomaly rate, predictions, anomalous series."""
        return {
            "host": self.host,
            "restore": {
                "state": self.restored.state,
                "series": self.restored.series,
                "saved_at": self.restored.saved_at,
                "message": self.restored.message,
            },
            "series": len(self.series),
            "max_series": self.settings.max_series,
            "analysed_samples": self.analysed,
            "skipped_samples": self.skipped,
            "evicted_series": self.evicted,
            "anomalous_now": sum(s.detector.anomalous for s in self.series.values()),
            "learning_now": sum(s.detector.learning for s in self.series.values()),
            "warmup": {"samples": self.settings.warmup_samples, "seconds": self.settings.warmup_s},
            "hosts": [h.latest for _, h in sorted(self.hosts.items()) if h.latest],
        }

    async def emitter(self) -> None:
        """Write the insight series every ``emit_interval_s``."""
        while True:
            await asyncio.sleep(self.settings.emit_interval_s)
            samples = self.tick(self.clock())
            if samples:
                result = self.submit(samples)
                if isinstance(result, asyncio.Future):
                    result.add_done_callback(_report)

    async def persister(self) -> None:
        while True:
            await asyncio.sleep(self.settings.persist_interval_s)
            try:
                await self.save()
            except OSError:
                log.exception("could not save the baselines to %s", self.path)


def _report(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("could not store the insight series: %s", fut.exception())
