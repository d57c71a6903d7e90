"""Insight on a real `sentra up` process: scores are stored series, the reset works while the
node runs, a restart restores the baselines, a damaged file starts fresh."""

from __future__ import annotations

import random
import time

import httpx
import pytest

from tests.nodeproc import NodeProcess, create_token, wait_for

ENV = {"SENTRA_INSIGHT_EMIT_INTERVAL_S": "0.5", "SENTRA_INSIGHT_PERSIST_INTERVAL_S": "3600"}


def _client(proc: NodeProcess, token: str) -> httpx.Client:
    return httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _ingest(client: httpx.Client, values: list[float], t0: float, name: str = "app.latency_ms"):
    metrics = [
        {"name": name, "value": v, "ts": t0 + i, "labels": {"service": "shop", "version": "v1"}}
        for i, v in enumerate(values)
    ]
    r = client.post("/api/v1/ingest", json={"metrics": metrics})
    assert r.status_code == 200, r.text


@pytest.fixture
def node(tmp_path):
    proc = NodeProcess(tmp_path, env=ENV).start()
    token = create_token(tmp_path)
    client = _client(proc, token)
    yield proc, client, token
    client.close()
    if proc.proc is not None and proc.proc.poll() is None:
        assert proc.stop() == 0


def _overview(client: httpx.Client) -> dict:
    r = client.get("/api/v1/insight")
    assert r.status_code == 200, r.text
    return r.json()


def _host(body: dict) -> dict | None:
    return next((h for h in body["hosts"] if h["host"] == body["host"]), None)


def _flagged(host: dict | None, name: str) -> dict | None:
    """``host`` if it lists ``name`` among its anomalous series."""
    return host if host and any(a["series"] == name for a in host["anomalous"]) else None


def test_scores_are_stored_series_and_the_host_gets_scores(node):
    _proc, client, _ = node
    host = wait_for(lambda: _host(_overview(client)))
    assert 0 <= host["stress"] <= 100
    assert host["series"] > 0
    r = wait_for(
        lambda: (
            (
                resp := client.get(
                    "/api/v1/history",
                    params={
                        "name": "sentra.anomaly.score",
                        "labels": "series=system.cpu.utilization,cpu=total",
                        "from": time.time() - 60,
                    },
                )
            ).status_code
            == 200
            and resp
        )
    )
    (series,) = r.json()["series"]
    assert series["labels"] == {"series": "system.cpu.utilization", "cpu": "total"}
    assert all(0 <= p[1] <= 1 for p in series["points"])
    stress = wait_for(
        lambda: (
            (
                resp := client.get(
                    "/api/v1/history",
                    params={"name": "sentra.host.stress", "from": time.time() - 60},
                )
            ).status_code
            == 200
            and resp
        )
    )
    assert stress.json()["series"][0]["labels"] == {"host": _overview(client)["host"]}


def test_an_ingested_spike_is_anomalous_and_a_reset_forgets_it(node):
    _proc, client, _ = node
    rng = random.Random(1)
    t0 = time.time() - 1200  # more than the warm-up (900 s) of history before the spike
    _ingest(client, [rng.gauss(100, 2) for _ in range(1000)], t0)
    _ingest(client, [400.0], t0 + 1000)

    host = wait_for(lambda: _flagged(_host(_overview(client)), "app.latency_ms"))
    (entry,) = [a for a in host["anomalous"] if a["series"] == "app.latency_ms"]
    assert entry["labels"] == {"service": "shop", "version": "v1"}
    assert entry["since"] == pytest.approx(t0 + 1000)
    scores = client.get(
        "/api/v1/history",
        params={"name": "sentra.anomaly.score", "labels": "series=app.latency_ms", "from": t0},
    ).json()["series"][0]["points"]
    assert max(p[1] for p in scores) == 1.0

    before = _overview(client)["series"]
    r = client.post("/api/v1/state/reset/baseline", json={"series": "app.latency_ms"})
    assert r.status_code == 200, r.text
    assert r.json()["reset"] == 1
    assert _overview(client)["series"] == before - 1
    wait_for(lambda: not _flagged(_host(_overview(client)), "app.latency_ms"))
    bad = client.post("/api/v1/state/reset/baseline", json={"sries": "x"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    everything = client.post("/api/v1/state/reset/baseline")
    assert everything.status_code == 200 and everything.json()["reset"] >= 1
    audit = wait_for(
        lambda: [
            e
            for e in client.get("/api/v1/audit").json()["entries"]
            if e["path"] == "/api/v1/state/reset/baseline"
        ]
    )
    assert any("series=app.latency_ms" in e["detail"] for e in audit)


def test_a_fresh_node_flags_nothing_while_it_learns(tmp_path):
    """The first minute of a node with an empty data dir: every series is learning, none
    is anomalous, stability is null (not 100, not 0)."""
    proc = NodeProcess(tmp_path, env={"SENTRA_INSIGHT_EMIT_INTERVAL_S": "1"}).start()
    try:
        with _client(proc, create_token(tmp_path, role="viewer")) as client:
            host = wait_for(lambda: _host(_overview(client)))
            started = time.monotonic()
            reads = 0
            while time.monotonic() - started < 60:
                body = _overview(client)
                host = _host(body)
                assert host is not None
                assert host["anomalous"] == [] and body["anomalous_now"] == 0
                assert host["stability"] is None and host["anomaly_rate_pct"] is None
                assert host["learning"] == host["series"] > 0
                reads += 1
                time.sleep(2)
            assert reads >= 20
            assert body["learning_now"] == body["series"]
            assert body["warmup"] == {"samples": 30, "seconds": 900.0}
    finally:
        assert proc.stop() == 0


def test_viewer_may_read_but_not_reset(node):
    proc, _client_admin, _ = node
    viewer = create_token(proc.data_dir, role="viewer", name="v")
    with _client(proc, viewer) as client:
        assert client.get("/api/v1/insight").status_code == 200
        r = client.post("/api/v1/state/reset/baseline")
        assert r.status_code == 403


def test_restart_restores_baselines_and_a_damaged_file_starts_fresh(node):
    proc, client, token = node
    rng = random.Random(2)
    _ingest(client, [rng.gauss(50, 1) for _ in range(100)], time.time() - 200)
    wait_for(lambda: _overview(client)["series"] > 0)
    assert _overview(client)["restore"]["state"] == "fresh"
    assert proc.stop() == 0
    path = proc.data_dir / "state" / "baselines.msgpack"
    assert path.stat().st_size > 0

    again = NodeProcess(proc.data_dir, env=ENV).start()
    try:
        with _client(again, token) as c2:
            body = _overview(c2)
            assert body["restore"]["state"] == "restored"
            assert body["restore"]["series"] > 0
            assert body["series"] >= body["restore"]["series"] - 1
    finally:
        assert again.stop() == 0

    path.write_bytes(b"\x93not a snapshot")
    third = NodeProcess(proc.data_dir, env=ENV).start()
    try:
        with _client(third, token) as c3:
            body = _overview(c3)
            assert body["restore"]["state"] == "damaged"
            assert "baselines.msgpack" in body["restore"]["message"]
    finally:
        assert third.stop() == 0
    assert "baselines start fresh" in third.output


# ------------------------------------------------- the service itself, on a real state dir


def _service(tmp_path, **settings):
    from sentra.config import InsightSettings
    from sentra.insight import InsightService

    written: list = []
    svc = InsightService(
        InsightSettings(**settings),
        path=tmp_path / "state" / "baselines.msgpack",
        host="node-a",
        submit=written.extend,
        clock=lambda: 1_700_000_000.0,
    )
    return svc, written


def _samples(name, values, t0, labels=None):
    from sentra.events import Sample

    return [Sample(name, labels or {}, t0 + i, v) for i, v in enumerate(values)]


def test_the_table_is_bounded_and_the_budget_skips(tmp_path):
    svc, _ = _service(tmp_path, max_series=3, max_samples_per_s=10)
    for i in range(5):
        svc.observe(_samples(f"m{i}", [1.0], 0.0))
    assert len(svc.series) == 3 and svc.evicted == 2
    assert list(svc.series) == ["m2", "m3", "m4"]  # the least recently seen went first
    assert svc.admit(10, now=1_700_000_000.0)
    assert not svc.admit(1, now=1_700_000_000.0)
    assert svc.skipped == 1
    assert svc.admit(5, now=1_700_000_001.0)  # a second later the budget is back


def test_a_series_is_scored_once_a_second_however_fast_it_arrives(tmp_path):
    from sentra.events import Sample

    svc, _ = _service(tmp_path)
    fast = [Sample("app.fast", {"k": "v"}, 100.0 + i / 100, 1.0) for i in range(300)]
    slow = _samples("app.slow", [1.0, 2.0, 3.0], 100.0)
    svc.observe(fast + slow)
    seen = {s.name: s.detector.baseline.n for s in svc.series.values()}
    assert seen == {"app.fast": 3, "app.slow": 3}  # 300 samples over 3 s: 3 scored
    assert svc.thinned == 297


def test_excluded_and_own_series_get_no_baseline(tmp_path):
    svc, _ = _service(tmp_path)
    svc.observe(_samples("system.uptime", [1.0, 2.0], 0.0))
    svc.observe(_samples("sentra.host.stress", [1.0], 0.0))
    svc.observe(_samples("system.memory.limit", [1.0], 0.0))
    svc.observe(_samples("app.ok", [float("nan"), 1.0], 0.0))
    assert list(svc.series) == ["app.ok"]


def test_tick_writes_scores_host_scores_and_predictions(tmp_path):
    svc, _ = _service(tmp_path)
    t0 = 1_700_000_000.0
    svc.observe(_samples("system.cpu.utilization", [0.5] * 40, t0, {"cpu": "total"}))
    fs = {"device": "sda1", "mountpoint": "/"}
    svc.observe(
        [
            s
            for i in range(30)
            for s in _samples("system.filesystem.utilization", [0.5 + 0.01 * i], t0 + 60 * i, fs)
        ]
    )
    svc.observe(_samples("app.x", [5.0], t0, {"host": "web-9"}))
    out = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in svc.tick(t0 + 2000)}
    score_key = ("sentra.anomaly.score", (("cpu", "total"), ("series", "system.cpu.utilization")))
    assert 0 <= out[score_key] <= 1
    assert out[("sentra.host.stress", (("host", "node-a"),))] == pytest.approx(
        100 * (0.6 * 0.79 + 0.4 * (0.5 + 0.79) / 2), abs=1.0
    )
    # Every series is still learning (under 900 s of history): no stability, no rate.
    assert ("sentra.host.stability", (("host", "node-a"),)) not in out
    assert ("sentra.anomaly.rate", (("host", "node-a"),)) not in out
    hosts = {h["host"]: h for h in svc.overview()["hosts"]}
    assert hosts["web-9"]["learning"] == 1  # the host label wins
    assert hosts["node-a"]["stability"] is None and hosts["node-a"]["learning"] == 2
    disk = (
        "sentra.predict.disk_full_hours",
        (("device", "sda1"), ("host", "node-a"), ("mountpoint", "/")),
    )
    assert out[disk] == pytest.approx((1 - 0.79) / 0.6, rel=0.1)  # 1 point/min = 0.6 /h
    assert svc.tick(t0 + 2010) == []  # nothing new since: nothing written


def test_saved_baselines_come_back(tmp_path):
    svc, _ = _service(tmp_path)
    svc.observe(_samples("app.y", [float(i % 3) for i in range(50)], 0.0, {"service": "s"}))
    svc.save_sync()
    again, _ = _service(tmp_path)
    assert again.restored.state == "restored" and again.restored.series == 1
    key = 'app.y{service="s"}'
    assert again.series[key].detector == svc.series[key].detector
    assert again.reset(series="app.y") == 1 and not again.series
