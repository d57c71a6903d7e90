"""The native ingest API against a real node: partial acceptance, dead letters, idempotency,
durability across kill -9, encodings and limits, back-pressure under overload."""

import gzip
import json
import multiprocessing
import threading
import time

import httpx
import msgspec
import pytest

from sentra.store.sqlite import SqliteStore
from tests.nodeproc import NodeProcess, create_token


def _client(proc, token):
    return httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("ingest")
    proc = NodeProcess(data, interval=1.0).start()
    client = _client(proc, create_token(data))
    yield proc, client
    client.close()
    proc.stop()


def _points(client, name, **params):
    r = client.get(
        "/api/v1/history",
        params={
            "name": name,
            "from": time.time() - 3600,
            "to": time.time() + 100,
            "limit": 100000,
            **params,
        },
    )
    return r.json()["series"][0]["points"] if r.status_code == 200 else []


def test_one_bad_item_never_rejects_its_neighbours(node):
    _, client = node
    now = time.time()
    batch = {
        "metrics": [
            {"name": "app.requests", "value": 1, "ts": now, "labels": {"route": "/a"}},
            {"name": "bad name!", "value": 2},
            {"name": "app.requests", "value": "NaN-ish"},
            {"name": "app.requests", "value": 3, "ts": now + 1, "labels": {"route": "/a"}},
            {"name": "app.requests", "value": 4, "ts": now + 10 * 86400},
        ],
        "logs": [
            {"body": "started", "service": "api", "version": "1.2", "severity": "info"},
            {"body": "x", "severity": "LOUD"},
            {"nobody": "here"},
        ],
    }
    r = client.post("/api/v1/ingest", json=batch)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == {"metrics": 2, "logs": 1}
    rejected = {(x["kind"], x["index"]): x["reason"] for x in body["rejected"]}
    assert set(rejected) == {
        ("metrics", 1),
        ("metrics", 2),
        ("metrics", 4),
        ("logs", 1),
        ("logs", 2),
    }
    assert "not a metric name" in rejected[("metrics", 1)]
    assert "future" in rejected[("metrics", 4)]
    assert "LOUD" in rejected[("logs", 1)]
    assert [p[1] for p in _points(client, "app.requests", labels="route=/a")] == [1.0, 3.0]
    dead = client.get("/api/v1/deadletters", params={"source": "ingest"}).json()["deadletters"]
    reasons = " | ".join(d["reason"] for d in dead)
    assert "metrics[1]" in reasons and "logs[2]" in reasons
    assert any('"bad name!"' in d["payload"] for d in dead)
    logs = client.get("/api/v1/logs", params={"service": "api"}).json()["logs"]
    assert [(x["body"], x["version"], x["severity"]) for x in logs] == [("started", "1.2", "INFO")]


def test_a_batch_with_only_bad_items_is_a_400_problem_and_still_dead_lettered(node):
    _, client = node
    r = client.post("/api/v1/ingest", json={"metrics": [{"value": 1}]})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["rejected"][0]["index"] == 0
    dead = client.get("/api/v1/deadletters", params={"limit": 1}).json()["deadletters"]
    assert "name" in dead[0]["reason"]


@pytest.mark.parametrize(
    "content,headers,status",
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"[1,2]", {"content-type": "application/json"}, 400),
        (b'{"metrics": [], "extra": 1}', {"content-type": "application/json"}, 400),
        (b"a=b", {"content-type": "application/x-www-form-urlencoded"}, 415),
        (
            b"\x1f\x8b\x08garbage",
            {"content-type": "application/json", "content-encoding": "gzip"},
            400,
        ),
        (b"{}", {"content-type": "application/json", "content-encoding": "br"}, 415),
    ],
)
def test_unusable_bodies_get_a_clear_4xx(node, content, headers, status):
    _, client = node
    r = client.post("/api/v1/ingest", content=content, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"]


def test_msgpack_and_gzip_bodies(node):
    _, client = node
    now = time.time()
    packed = msgspec.msgpack.encode({"metrics": [{"name": "app.mp", "value": 7.5, "ts": now}]})
    r = client.post(
        "/api/v1/ingest", content=packed, headers={"content-type": "application/msgpack"}
    )
    assert r.json()["accepted"]["metrics"] == 1
    zipped = gzip.compress(json.dumps({"metrics": [{"name": "app.gz", "value": 1}]}).encode())
    r = client.post(
        "/api/v1/ingest",
        content=zipped,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.json()["accepted"]["metrics"] == 1
    assert _points(client, "app.mp")[0][1] == 7.5


def test_a_gzip_bomb_is_refused_by_its_decompressed_size(tmp_path):
    proc = NodeProcess(tmp_path, env={"SENTRA_INGEST_MAX_BODY_BYTES": "100000"}).start()
    client = _client(proc, create_token(tmp_path))
    bomb = gzip.compress(b"{" + b" " * 5_000_000 + b"}")
    r = client.post(
        "/api/v1/ingest",
        content=bomb,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.status_code == 413
    r = client.post(
        "/api/v1/ingest",
        content=b"{" + b" " * 200_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    client.close()
    proc.stop()


def test_viewer_tokens_cannot_ingest(node):
    proc, _ = node
    viewer = create_token(proc.data_dir, role="viewer", name="ro")
    r = httpx.post(
        f"{proc.url}/api/v1/ingest",
        json={"metrics": []},
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert r.status_code == 403


def test_duplicates_are_counted_not_stored_even_across_kill9(tmp_path):
    proc = NodeProcess(tmp_path).start()
    token = create_token(tmp_path)
    client = _client(proc, token)
    now = time.time()
    items = [{"id": f"evt-{i}", "name": "app.dedupe", "value": i, "ts": now + i} for i in range(5)]
    first = client.post("/api/v1/ingest", json={"metrics": [*items, items[0]]}).json()
    assert first["accepted"]["metrics"] == 5 and first["duplicates"] == 1
    client.close()
    proc.kill9()  # right after the 2xx

    again = NodeProcess(tmp_path).start()
    client = _client(again, token)
    second = client.post("/api/v1/ingest", json={"metrics": items}).json()
    assert second == {"accepted": {"metrics": 0, "logs": 0}, "duplicates": 5, "rejected": []}
    assert [p[1] for p in _points(client, "app.dedupe")] == [0.0, 1.0, 2.0, 3.0, 4.0]
    client.close()
    again.stop()


def test_every_accepted_event_survives_kill9_right_after_the_answer(tmp_path):
    proc = NodeProcess(tmp_path).start()
    token = create_token(tmp_path)
    client = _client(proc, token)
    base = time.time() - 60
    accepted = 0
    for b in range(20):
        batch = [
            {"name": "app.durable", "value": b * 1000 + i, "ts": base + (b * 1000 + i) / 1000}
            for i in range(1000)
        ]
        logs = [{"body": f"line {b}", "service": "durable"}]
        r = client.post("/api/v1/ingest", json={"metrics": batch, "logs": logs})
        assert r.status_code == 200
        accepted += r.json()["accepted"]["metrics"]
    client.close()
    proc.kill9()
    store = SqliteStore(tmp_path / "db" / "sentra.db", readonly=True)
    res = store.history("app.durable", {}, base - 1, base + 100, limit=100_000, now=time.time())
    assert len(res.series[0].ts) == accepted == 20_000
    assert (
        len(
            store.logs(
                service="durable",
                version="",
                min_severity=0,
                contains="",
                trace_id="",
                start=0,
                end=time.time() + 10,
                limit=100,
            )
        )
        == 20
    )
    store.close()
    again = NodeProcess(tmp_path).start()
    info = httpx.get(
        f"{again.url}/api/v1/storage/info", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert info["previous_run_unclean"] is True
    again.stop()


def _flood(url, token, seconds, name, results):
    counts = {"ok": 0, "accepted": 0, "busy": 0, "retry_after": set(), "other": 0}
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        i = 0
        while time.monotonic() < deadline:
            base = time.time()
            batch = [{"name": name, "value": 1, "ts": base} for _ in range(2000)]
            i += 1
            r = c.post("/api/v1/ingest", json={"metrics": batch})
            if r.status_code == 200:
                counts["ok"] += 1
                counts["accepted"] += r.json()["accepted"]["metrics"]
            elif r.status_code == 429:
                counts["busy"] += 1
                counts["retry_after"].add(r.headers.get("retry-after"))
            else:
                counts["other"] += 1
    counts["retry_after"] = sorted(x for x in counts["retry_after"] if x)
    results.put(counts)


def _rss_mb(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_overload_answers_429_keeps_memory_bounded_and_serves_reads(tmp_path):
    """Far more offered load than the write queue admits (queue of 3,000 events, six
    concurrent senders of 2,000-event batches) for 30 s."""
    proc = NodeProcess(tmp_path, env={"SENTRA_INGEST_MAX_PENDING_EVENTS": "3000"}).start()
    token = create_token(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    senders = [
        ctx.Process(target=_flood, args=(proc.url, token, 30, "app.flood", results))
        for _ in range(6)
    ]
    for s in senders:
        s.start()
    peak_rss, read_latency = 0.0, []
    with _client(proc, token) as reader:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            t = time.perf_counter()
            assert reader.get("/api/telemetry/summary").status_code == 200
            read_latency.append(time.perf_counter() - t)
            peak_rss = max(peak_rss, _rss_mb(proc.proc.pid))
            time.sleep(0.2)
    got = [results.get(timeout=60) for _ in senders]
    for s in senders:
        s.join(30)
    accepted = sum(g["accepted"] for g in got)
    assert sum(g["busy"] for g in got) > 0, got  # the queue did fill
    assert all(g["other"] == 0 for g in got), got
    assert all(int(v) >= 1 for g in got for v in g["retry_after"])
    assert peak_rss < 250, f"RSS reached {peak_rss:.0f} MB"
    assert sorted(read_latency)[int(len(read_latency) * 0.95)] < 1.0
    proc.stop()
    store = SqliteStore(tmp_path / "db" / "sentra.db", readonly=True)
    total = 0
    conn = store._reader()
    (sid,) = conn.execute("SELECT id FROM series WHERE name = 'app.flood'").fetchone()
    total += conn.execute(
        "SELECT coalesce(sum(n),0) FROM chunks WHERE series_id=?", (sid,)
    ).fetchone()[0]
    total += conn.execute("SELECT count(*) FROM head WHERE series_id=?", (sid,)).fetchone()[0]
    store.close()
    assert total == accepted  # every 2xx is stored, nothing else


def test_a_seal_beside_ongoing_writes_neither_loses_nor_doubles_a_sample(tmp_path):
    """The seal snapshots the head, builds chunks without the writer lock, then deletes only
    the snapshot's rows: samples written meanwhile stay in the head, readable once."""
    from sentra.ingest.model import SampleColumns, series_ref

    store = SqliteStore(tmp_path / "s.db", max_head_rows=10**9)
    refs = [series_ref("app.seal", {"k": str(i % 7)}) for i in range(1000)]
    base = time.time() - 600
    written, stop = [0], threading.Event()

    def writer():
        b = 0
        while not stop.is_set() or b < 10:
            ts = [base + (b * 1000 + i) / 1000 for i in range(1000)]
            store.write(columns=[SampleColumns(refs, ts, [float(b)] * 1000)], deferred=True)
            written[0] += 1000
            b += 1

    t = threading.Thread(target=writer)
    t.start()
    sealed = 0
    deadline = time.monotonic() + 10
    while sealed < 3 and time.monotonic() < deadline:
        sealed += store.seal() > 0
    stop.set()
    t.join(30)
    assert sealed == 3 and store.seals == 3
    res = store.history("app.seal", {}, base - 1, base + 10_000, limit=100_000, now=time.time())
    assert sum(len(s.ts) for s in res.series) == written[0]
    conn = store._reader()
    (chunked,) = conn.execute("SELECT coalesce(sum(n), 0) FROM chunks").fetchone()
    (head_rows,) = conn.execute("SELECT count(*) FROM head").fetchone()
    assert chunked + head_rows == written[0] and chunked > 0 and head_rows == store._head.rows
    store.close()
