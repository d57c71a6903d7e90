"""The Prometheus source against a REAL Prometheus scraping a real app on loopback.

The app is prometheus_client's HTTP server over a fresh CollectorRegistry with a counter
``http_requests_total{version,code}`` and a histogram ``http_request_duration_seconds
{version}``; Prometheus (Debian package ``prometheus``, installed by .ci/run) scrapes it
every second. Traffic is generated in two phases so both raw values and ``increase()`` over
``{{window}}`` can be checked against what was generated.
"""

import asyncio
import math
import os
import shutil
import socket
import subprocess
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from sentra.rollout.sources import Arm, SourceError, Target, Window, build_source
from sentra.rollout.sources.config import PrometheusSourceConfig
from sentra.rollout.sources.prometheus import PrometheusSource, buckets_to_bins
from sentra.rollout.sources.templates import duration

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
TARGET = Target("shop", {Arm.STABLE: "v1", Arm.CANARY: "v2"})
BOUNDS = (0.01, 0.05, 0.1, 0.5, 1.0)
REQS = 'sum(http_requests_total{version="{{version}}"})'
ERRS = 'sum(http_requests_total{version="{{version}}",code="500"})'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(check, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


class App:
    """The app under observation: its metrics, and a way to drive traffic into them."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "Requests served.", ["version", "code"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "Request latency.", ["version"],
            buckets=BOUNDS, registry=self.registry,
        )  # fmt: skip
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = self.server.server_port

    def traffic(self, version, *, ok, errors, latencies):
        self.requests.labels(version, "200").inc(ok)
        self.requests.labels(version, "500").inc(errors)
        for seconds, n in latencies:
            for _ in range(n):
                self.latency.labels(version).observe(seconds)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def prom(tmp_path_factory, request):
    if not os.path.exists(PROMETHEUS):
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed; .ci/run must apt-get install prometheus")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    tmp = tmp_path_factory.mktemp("prom")
    app = App()
    request.addfinalizer(app.close)
    # phase 1: stable 1000 requests (10 errors), canary 200 (12 errors)
    stable_latencies = [(0.005, 600), (0.03, 300), (0.08, 90), (0.7, 10)]
    app.traffic("v1", ok=990, errors=10, latencies=stable_latencies)
    app.traffic("v2", ok=188, errors=12, latencies=[(0.03, 100), (0.3, 100)])
    port = _free_port()
    (tmp / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: app\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{app.port}']\n"
    )
    with open(tmp / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def stop():
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    request.addfinalizer(stop)
    url = f"http://127.0.0.1:{port}"

    def value(promql):
        body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=2).json()
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    _wait_for(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, "ready")
    _wait_for(lambda: value('sum(http_requests_total{version="v1"})') == 1000, "phase 1")
    # Three scrapes on each side of phase 2 give increase() evenly spaced samples to
    # extrapolate from, the same for every series of the target.
    scrapes = 'count_over_time(http_requests_total{version="v1",code="500"}[5m])'
    _wait_for(lambda: (value(scrapes) or 0) >= 3, "three scrapes of phase 1")
    phase2 = time.time()  # stable: +100 requests of which 10 errors
    app.traffic("v1", ok=90, errors=10, latencies=[])
    _wait_for(lambda: value('sum(http_requests_total{version="v1"})') == 1100, "phase 2")
    seen = value(scrapes)
    _wait_for(lambda: value(scrapes) >= seen + 2, "two more scrapes")
    return {"url": url, "phase2": phase2}


def ask(url, method, *args, config=None, **kwargs):
    """Call one source method on a fresh source (its client lives in this loop only)."""

    async def main():
        source = build_source("prom", config or PrometheusSourceConfig(type="prometheus", url=url),
                              store=None)  # fmt: skip
        try:
            return await getattr(source, method)(*args, **kwargs)
        finally:
            await source.close()

    return asyncio.run(main())


def now_window(seconds=30.0):
    end = time.time()
    return Window(end - seconds, end)


def test_factory_builds_a_prometheus_source():
    source = build_source("prom", PrometheusSourceConfig(type="prometheus", url="http://x:9090"),
                          store=None)  # fmt: skip
    assert isinstance(source, PrometheusSource) and source.kind == "prometheus"
    asyncio.run(source.close())


def test_scalar_is_the_one_series_value_of_the_arm(prom):
    stable = ask(prom["url"], "scalar", REQS, Arm.STABLE, TARGET, now_window())
    canary = ask(prom["url"], "scalar", REQS, Arm.CANARY, TARGET, now_window())
    assert (stable.value, stable.samples) == (1100.0, 1)
    assert (canary.value, canary.samples) == (200.0, 1)
    assert canary.query == 'sum(http_requests_total{version="v2"})'


def test_samples_query_reports_its_value_as_samples(prom):
    got = ask(prom["url"], "scalar", REQS, Arm.CANARY, TARGET, now_window(),
              samples_query='count(http_requests_total{version="{{version}}"})')  # fmt: skip
    assert (got.value, got.samples) == (200.0, 2)  # two series: code 200 and 500


def test_several_series_without_aggregation_is_a_permanent_error(prom):
    with pytest.raises(SourceError, match="returns 2 series") as err:
        ask(prom["url"], "scalar", 'http_requests_total{version="{{version}}"}', Arm.CANARY,
            TARGET, now_window())  # fmt: skip
    assert not err.value.retryable
    assert "aggregate" in str(err.value)


def test_no_series_and_nan_are_no_data(prom):
    none = ask(prom["url"], "scalar", 'sum(http_requests_total{version="v404"})', Arm.CANARY,
               TARGET, now_window())  # fmt: skip
    assert (none.value, none.samples) == (None, 0)
    nan = ask(prom["url"], "scalar", "vector(0) / 0", Arm.CANARY, TARGET, now_window())
    assert (nan.value, nan.samples) == (None, 1)


def test_counts_read_errors_and_requests_of_each_arm(prom):
    stable = ask(prom["url"], "counts", ERRS, REQS, Arm.STABLE, TARGET, now_window())
    canary = ask(prom["url"], "counts", ERRS, REQS, Arm.CANARY, TARGET, now_window())
    assert (stable.events, stable.trials) == (20.0, 1100.0)
    assert (canary.events, canary.trials) == (12.0, 200.0)
    missing = 'sum(http_requests_total{version="{{version}}",code="503"})'
    assert ask(prom["url"], "counts", missing, REQS, Arm.CANARY, TARGET, now_window()).events == 0


def test_increase_over_the_window_placeholder_sees_only_the_new_traffic(prom):
    window = Window(prom["phase2"] - 1.5, time.time())
    events = 'sum(increase(http_requests_total{version="{{version}}",code="500"}[{{window}}]))'
    trials = 'sum(increase(http_requests_total{version="{{version}}"}[{{window}}]))'
    got = ask(prom["url"], "counts", events, trials, Arm.STABLE, TARGET, window)
    assert f"[{duration(window.seconds)}]" in got.query
    # phase 2 added 100 requests, 10 of them errors; increase() extrapolates to the window's
    # edges (so a little more than 100), scaling both sides alike (they share scrapes)
    assert 100 <= got.trials < 200
    assert got.events / got.trials == pytest.approx(0.1, rel=0.02)


def test_distribution_turns_cumulative_le_buckets_into_bins(prom):
    query = 'sum by (le) (http_request_duration_seconds_bucket{version="{{version}}"})'
    stable = ask(prom["url"], "distribution", query, Arm.STABLE, TARGET, now_window())
    assert stable.edges == (*BOUNDS, math.inf)
    assert stable.counts == (600.0, 300.0, 90.0, 0.0, 10.0, 0.0)
    canary = ask(prom["url"], "distribution", query, Arm.CANARY, TARGET, now_window())
    assert canary.counts == (0.0, 100.0, 0.0, 100.0, 0.0, 0.0)
    assert canary.total == 200


def test_distribution_of_series_without_le_is_a_permanent_error(prom):
    with pytest.raises(SourceError, match="without an 'le' label") as err:
        ask(prom["url"], "distribution", REQS, Arm.CANARY, TARGET, now_window())
    assert not err.value.retryable


def test_a_bad_query_is_prometheus_own_message_and_not_retryable(prom):
    with pytest.raises(SourceError) as err:
        ask(prom["url"], "scalar", "sum(http_requests_total{", Arm.CANARY, TARGET, now_window())
    assert "parse error" in str(err.value) and "bad_data" not in str(err.value).split(":")[0]
    assert not err.value.retryable


def test_a_range_vector_asks_for_a_wrapping_function(prom):
    with pytest.raises(SourceError, match="range vector") as err:
        ask(prom["url"], "scalar", "http_requests_total[1m]", Arm.CANARY, TARGET, now_window())
    assert not err.value.retryable


def test_a_version_with_quotes_cannot_change_the_query(prom):
    evil = Target("shop", {Arm.CANARY: 'v2"} or vector(1) or {x="'})
    got = ask(prom["url"], "scalar", REQS, Arm.CANARY, evil, now_window())
    assert got.value is None  # a version that matches nothing, not a parse error or a 1


def test_a_refused_connection_is_retryable():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(SourceError, match="cannot connect") as err:
        ask(url, "scalar", "up", Arm.CANARY, TARGET, now_window())
    assert err.value.retryable


def test_buckets_that_dip_give_empty_bins_never_negative_ones():
    series = [({"le": "0.1"}, 10.0), ({"le": "+Inf"}, 12.0), ({"le": "0.5"}, 9.5)]
    assert buckets_to_bins("q", series) == ((0.1, 0.5, math.inf), (10.0, 0.0, 2.0))
    assert buckets_to_bins("q", []) == ((), ())
