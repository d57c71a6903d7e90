"""A real `sentra up` process on loopback: API, auth, errors, clean and unclean stops."""

import json
import signal
import time

import httpx
import pytest

from sentra.api.static import WEBUI
from tests.nodeproc import NodeProcess, create_token, wait_for

WEBUI_INDEX = WEBUI / "index.html"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("node")
    proc = NodeProcess(data).start()
    token = create_token(data)
    client = httpx.Client(
        base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    yield proc, client
    client.close()
    assert proc.stop() == 0


def _problem(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["detail"]
    return body


def test_health_needs_no_token(node):
    proc, _ = node
    body = httpx.get(f"{proc.url}/api/health").json()
    assert body["status"] == "ok"


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/telemetry/summary"),
        ("GET", "/api/v1/history?name=x"),
        ("GET", "/api/v1/series"),
        ("GET", "/api/v1/storage/info"),
        ("GET", "/metrics"),
        ("DELETE", "/api/v1/history"),
        ("POST", "/api/telemetry/purge"),
        ("POST", "/api/v1/storage/cache/clear"),
        ("GET", "/api/telemetry/history"),
    ],
)
def test_every_data_endpoint_refuses_missing_and_bad_tokens(node, method, path):
    proc, _ = node
    _problem(httpx.request(method, proc.url + path), 401)
    bad = {"Authorization": "Bearer sentra_deadbeef_notreal"}
    _problem(httpx.request(method, proc.url + path, headers=bad), 401)


def test_viewer_token_cannot_delete(node):
    proc, _ = node
    viewer = create_token(proc.data_dir, role="viewer", name="v")
    h = {"Authorization": f"Bearer {viewer}"}
    assert httpx.get(f"{proc.url}/api/v1/series", headers=h).status_code == 200
    body = _problem(httpx.delete(f"{proc.url}/api/v1/history", headers=h), 403)
    assert "admin" in body["detail"]


def test_summary_is_live_and_comes_from_the_host(node):
    _, client = node
    first = wait_for(lambda: client.get("/api/telemetry/summary").json().get("ts"))
    later = wait_for(lambda: (s := client.get("/api/telemetry/summary").json())["ts"] > first and s)
    assert later["collectors"]["host.cpu"]["state"] == "ok"
    cpu = later["metrics"]["system.cpu.utilization"]
    assert {"cpu": "total"} in [m["labels"] for m in cpu]
    assert all(0 <= m["value"] <= 1 for m in cpu)
    assert later["metrics"]["system.memory.limit"][0]["value"] > 0


def test_history_returns_what_was_sampled(node):
    _, client = node

    def enough():
        r = client.get(
            "/api/v1/history",
            params={
                "name": "system.cpu.utilization",
                "labels": "cpu=total",
                "from": time.time() - 60,
            },
        )
        return r.status_code == 200 and len(r.json()["series"][0]["points"]) >= 5 and r.json()

    body = wait_for(enough)
    (series,) = body["series"]
    assert series["labels"] == {"cpu": "total"}
    ts = [p[0] for p in series["points"]]
    assert ts == sorted(ts)
    names = {s["name"] for s in client.get("/api/v1/series").json()["series"]}
    assert {"system.cpu.utilization", "system.memory.usage"} <= names


@pytest.mark.parametrize(
    "params,status,needle",
    [
        ({"name": "system.cpu.utilization", "from": "abc"}, 400, "from"),
        ({"name": "system.cpu.utilization", "from": "20", "to": "10"}, 400, "after"),
        ({"name": "system.cpu.utilization", "limit": "0"}, 400, "limit"),
        ({"name": "system.cpu.utilization", "limit": "1e99"}, 400, "limit"),
        ({"name": "system.cpu.utilization", "from": "nan"}, 400, "finite"),
        ({"name": "system.cpu.utilization", "labels": "novalue"}, 400, "key=value"),
        ({"name": "no.such.series"}, 404, "no stored series"),
        ({}, 400, "name"),
    ],
)
def test_bad_history_parameters_get_a_clear_4xx(node, params, status, needle):
    _, client = node
    body = _problem(client.get("/api/v1/history", params=params), status)
    assert needle in body["detail"]


def test_unknown_api_path_is_a_problem_not_the_dashboard(node):
    _, client = node
    _problem(client.get("/api/v1/nope"), 404)
    _problem(client.post("/api/health"), 405)


def test_storage_info_and_cache_clear(node):
    proc, client = node
    (proc.data_dir / "cache" / "junk.bin").write_bytes(b"z" * 100)
    info = client.get("/api/v1/storage/info").json()
    assert info["data_dir"] == str(proc.data_dir.resolve())
    assert info["usage"]["cache"] == 100
    assert info["previous_run_unclean"] is False
    assert info["history"]["series"] > 10
    assert client.post("/api/v1/storage/cache/clear").json() == {"files": 1, "bytes": 100}
    assert list((proc.data_dir / "cache").iterdir()) == []
    assert (proc.data_dir / "state" / "runtime.json").exists()


def test_preferences_round_trip_and_refuse_non_objects(node):
    proc, client = node
    assert client.get("/api/v1/preferences").json() == {}
    assert client.put("/api/v1/preferences", json={"theme": "night"}).json() == {"theme": "night"}
    assert client.get("/api/v1/preferences").json() == {"theme": "night"}
    assert (proc.data_dir / "config" / "preferences.json").exists()
    _problem(client.put("/api/v1/preferences", json=[1, 2]), 400)
    _problem(client.put("/api/v1/preferences", content=b"{nope"), 400)
    _problem(client.put("/api/v1/preferences", content=b"{}" + b" " * 70_000), 413)


def test_metrics_exposition(node):
    _, client = node
    text = wait_for(
        lambda: (t := client.get("/metrics").text) and "system_cpu_utilization" in t and t
    )
    assert 'system_cpu_utilization{cpu="total"}' in text
    assert "sentra_samples_written_total" in text
    assert "sentra_process_resident_memory_bytes" in text


def test_dashboard_route_answers_without_a_404(node):
    proc, _ = node
    r = httpx.get(f"{proc.url}/history")
    if WEBUI_INDEX.exists():  # built by `make web` before the tests: the app itself
        assert r.status_code == 200 and '<div id="root"' in r.text
    else:  # not built: a page that says how to build it, never a 404
        assert r.status_code == 503 and "make web" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_first_start_prints_a_sign_in_link_once_and_stores_only_its_hash(tmp_path):
    proc = NodeProcess(tmp_path).start()
    proc.stop()
    links = [w for w in proc.output.split() if "/#signin=" in w]
    assert len(links) == 1, proc.output
    code = links[0].split("#signin=", 1)[1]
    assert "#token=" not in proc.output  # no admin token is printed any more
    db = (tmp_path / "db" / "sentra.db").read_bytes()
    assert code.encode() not in db
    again = NodeProcess(tmp_path).start()
    r = httpx.post(f"{again.url}/api/v1/auth/link", json={"code": code})
    assert r.json()["user"]["role"] == "admin" and r.json()["must_set_password"] is True
    again.stop()
    assert "#signin=" not in again.output  # not printed a second time
    log = (tmp_path / "logs" / "sentra.log").read_text()
    assert code not in log


def test_sigterm_stops_cleanly_and_kill9_is_noticed(tmp_path):
    proc = NodeProcess(tmp_path, interval=0.1).start()
    token = create_token(tmp_path)
    h = {"Authorization": f"Bearer {token}"}
    assert proc.stop(signal.SIGTERM) == 0
    state = json.loads((tmp_path / "state" / "runtime.json").read_text())
    assert state["last_clean_shutdown"] is True
    assert (
        not (tmp_path / "db" / "sentra.db-wal").exists()
        or (tmp_path / "db" / "sentra.db-wal").stat().st_size == 0
    )

    second = NodeProcess(tmp_path, interval=0.05).start()
    r = httpx.get(f"{second.url}/api/v1/storage/info", headers=h).json()
    assert r["previous_run_unclean"] is False
    # heavy-ish writes at 20 Hz, then kill -9 in the middle of them
    before = wait_for(
        lambda: (
            (
                n := httpx.get(f"{second.url}/api/v1/storage/info", headers=h).json()["history"][
                    "raw_samples"
                ]
            )
            > 2000
            and n
        )
    )
    second.kill9()

    third = NodeProcess(tmp_path).start()
    info = httpx.get(f"{third.url}/api/v1/storage/info", headers=h).json()
    assert info["previous_run_unclean"] is True
    assert info["history"]["raw_samples"] >= before
    summary = httpx.get(f"{third.url}/api/telemetry/summary", headers=h).json()
    assert summary["previous_run_unclean"] is True
    third.stop()
    assert "did not shut down cleanly" in third.output


def test_corrupt_state_files_fall_back_to_defaults(tmp_path):
    (tmp_path / "state").mkdir(parents=True)
    (tmp_path / "config").mkdir()
    (tmp_path / "state" / "runtime.json").write_bytes(b"\x00\xffnot json")
    (tmp_path / "config" / "preferences.json").write_text("{broken")
    proc = NodeProcess(tmp_path).start()
    proc.stop()
    log = (tmp_path / "logs" / "sentra.log").read_text()
    assert "runtime.json is damaged" in log
    assert "preferences.json is damaged" in log
    assert (
        json.loads((tmp_path / "state" / "runtime.json").read_text())["last_clean_shutdown"] is True
    )
