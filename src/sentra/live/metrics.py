"""The hub's figures for GET /metrics (Prometheus families, read at scrape time)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sentra.live.hub import LiveHub


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)  # exposed as <name>, _total kept


def live_families(hub: LiveHub) -> Iterator[Metric]:
    s = hub.stats()
    clients = GaugeMetricFamily(
        "sentra_live_clients", "Connected live clients", labels=["transport"]
    )
    for transport in ("ws", "sse"):
        clients.add_metric([transport], s.by_transport.get(transport, 0))
    yield clients
    yield GaugeMetricFamily(
        "sentra_live_filters", "Distinct filters among live clients", value=s.filters
    )
    yield _counter(
        "sentra_live_frames_total", "Frames encoded (one per distinct filter)", s.frames_total
    )
    yield _counter(
        "sentra_live_frames_queued_total", "Frames put in client queues", s.frames_queued_total
    )
    yield _counter(
        "sentra_live_dropped_frames_total",
        "Frames dropped for a client whose queue was full",
        s.dropped_frames_total,
    )
    yield _counter(
        "sentra_live_disconnected_slow_total",
        "Clients closed for staying behind",
        s.disconnected_slow_total,
    )
    yield _counter("sentra_live_refused_total", "Clients refused at max_clients", s.refused_total)
    yield GaugeMetricFamily(
        "sentra_live_queue_depth_max", "Deepest live client queue (frames)", value=s.queue_depth_max
    )
    yield GaugeMetricFamily(
        "sentra_live_queue_depth_frames",
        "Frames waiting in all live client queues",
        value=s.queue_depth_sum,
    )
