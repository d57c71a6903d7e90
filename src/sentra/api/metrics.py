"""GET /metrics: the host's current readings and the node's own, in Prometheus format."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sentra.api.auth import require
from sentra.api.context import ApiContext

router = APIRouter()
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def prom_name(name: str) -> str:
    return _INVALID.sub("_", name)


class NodeCollector(Collector):
    """Reads the status cache and the node's counters at scrape time."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        label_sets: dict[str, list[str]] = {}
        for name, labels, value in self.ctx.cache.latest():
            pname = prom_name(name)
            keys = sorted(labels)
            fam = families.get(pname)
            if fam is None:
                fam = families[pname] = GaugeMetricFamily(
                    pname, f"Sentra reading {name}", labels=keys
                )
                label_sets[pname] = keys
            if label_sets[pname] != keys:
                continue
            fam.add_metric([labels[k] for k in keys], value)
        yield from families.values()

        ctx = self.ctx
        stats = ctx.store.stats()
        yield GaugeMetricFamily("sentra_store_series", "Stored series", value=stats.series)
        yield GaugeMetricFamily(
            "sentra_store_raw_samples", "Raw samples held", value=stats.raw_samples
        )
        yield GaugeMetricFamily(
            "sentra_store_head_rows", "Samples not yet sealed", value=stats.head_rows
        )
        yield GaugeMetricFamily(
            "sentra_store_bytes", "Bytes used by the database", value=stats.db_bytes
        )
        yield _counter("sentra_samples_written_total", "Samples stored", ctx.store.samples_written)
        ing = ctx.ingestor
        yield _counter("sentra_ingest_events_total", "Events committed", ing.committed_events)
        yield _counter("sentra_ingest_commits_total", "Write transactions", ing.commits)
        yield _counter(
            "sentra_ingest_overloaded_total", "Requests refused with 429", ing.rejected_overload
        )
        yield _counter("sentra_ingest_failures_total", "Commits that failed", ing.failures)
        yield GaugeMetricFamily(
            "sentra_ingest_queue_events", "Events waiting to be written", value=ing.pending
        )
        yield GaugeMetricFamily(
            "sentra_ingest_rate", "Events committed per second (~1 s)", value=ing.rate
        )
        yield GaugeMetricFamily("sentra_dedupe_ids", "Event ids remembered", value=ing.deduper.size)
        yield _counter(
            "sentra_dedupe_evicted_total", "Ids forgotten early (memory bound)", ing.deduper.evicted
        )
        yield _counter(
            "sentra_deadletters_total", "Rejected items recorded", ctx.store.deadletters_written
        )
        yield _counter("sentra_logs_written_total", "Log records stored", ctx.store.logs_written)
        yield _counter("sentra_spans_written_total", "Spans stored", ctx.store.spans_written)
        depth = GaugeMetricFamily(
            "sentra_bus_queue_depth", "Events waiting per subscriber", labels=["subscriber"]
        )
        dropped = GaugeMetricFamily(
            "sentra_bus_dropped_total",
            "Events dropped per subscriber (queue full)",
            labels=["subscriber"],
        )
        dropped.type = "counter"
        for sub in ctx.bus.subscriptions():
            depth.add_metric([sub.name], sub.depth())
            dropped.add_metric([sub.name], sub.dropped)
        yield depth
        yield dropped
        if getattr(ctx, "hub", None):
            from sentra.live.metrics import live_families

            yield from live_families(ctx.hub)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name.removesuffix("_total"), doc, value=value)


def build_registry(ctx: ApiContext) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(ctx))
    registry.register(ProcessCollector(namespace="sentra", registry=None))
    return registry


@router.get("/metrics", dependencies=[Depends(require("viewer"))], tags=["node"])
def metrics(request: Request) -> Response:
    """Prometheus exposition of the current readings and the node's own metrics."""
    registry: CollectorRegistry = request.app.state.registry
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
