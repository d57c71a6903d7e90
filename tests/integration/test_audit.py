"""The audit log: a real node records every state-changing request; GET /api/v1/audit."""

import asyncio

import httpx
import pytest

from sentra.store.sqlite.audit import AuditEntry, AuditStore, AuditWriter
from tests.nodeproc import NodeProcess, create_token

SECRET_MARK = "sentra_cafebabe_do-not-record-this-secret"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("audit")
    admin = create_token(data, "admin", "auditor")
    operator = create_token(data, "operator", "deployer")
    viewer = create_token(data, "viewer", "watcher")
    proc = NodeProcess(data).start()
    yield proc, {"admin": admin, "operator": operator, "viewer": viewer}
    assert proc.stop() == 0


def _client(proc, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=proc.url, headers=headers, timeout=10)


def _entries(proc, token, **params):
    with _client(proc, token) as c:
        resp = c.get("/api/v1/audit", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()["entries"]


def test_a_change_is_recorded_with_who_what_when_and_where(node):
    proc, tokens = node
    with _client(proc, tokens["operator"]) as c:
        assert c.put("/api/v1/preferences", json={"theme": "dark"}).status_code == 200
    (entry,) = _entries(proc, tokens["admin"], path="/api/v1/preferences", limit=1)
    assert entry["actor"] == "deployer"
    assert entry["actor_kind"] == "token"
    assert entry["role"] == "operator"
    assert (entry["method"], entry["path"], entry["status"]) == ("PUT", "/api/v1/preferences", 200)
    assert entry["client"] == "127.0.0.1"
    assert entry["detail"] == "put_preferences"
    assert entry["ts"] > 1.6e9 and entry["id"] > 0


def test_reads_are_not_recorded(node):
    proc, tokens = node
    with _client(proc, tokens["viewer"]) as c:
        for _ in range(3):
            assert c.get("/api/v1/preferences").status_code == 200
            assert c.get("/api/v1/series").status_code == 200
    assert _entries(proc, tokens["admin"], actor="watcher") == []


def test_a_refused_request_is_recorded_as_anonymous_or_with_its_role(node):
    proc, tokens = node
    with _client(proc) as c:
        assert c.delete("/api/v1/history").status_code == 401
    with _client(proc, tokens["viewer"]) as c:
        assert c.delete("/api/v1/history").status_code == 403
    newest = _entries(proc, tokens["admin"], path="/api/v1/history", limit=2)
    assert [(e["actor"], e["role"], e["status"]) for e in newest] == [
        ("watcher", "viewer", 403),
        ("anonymous", "", 401),
    ]


def test_no_body_and_no_query_string_is_ever_recorded(node):
    proc, tokens = node
    with _client(proc, tokens["admin"]) as c:
        resp = c.post(
            "/api/telemetry/purge", params={"older_than_days": 3, "access_token": SECRET_MARK}
        )
        assert resp.status_code == 200
        c.put("/api/v1/preferences", json={"password": SECRET_MARK})
        c.post("/api/v1/rollouts", content=f"name: x\npassword: {SECRET_MARK}\n")
        everything = c.get("/api/v1/audit", params={"limit": 1000}).text
    assert SECRET_MARK not in everything
    (purge,) = _entries(proc, tokens["admin"], path="/api/telemetry/purge", limit=1)
    assert purge["path"] == "/api/telemetry/purge"


def test_telemetry_writes_are_recorded_only_when_refused(node):
    proc, tokens = node
    batch = {"metrics": [{"name": "app.requests", "value": 1.0}]}
    with _client(proc, tokens["operator"]) as c:
        for _ in range(3):
            assert c.post("/api/v1/ingest", json=batch).status_code == 200
    with _client(proc, tokens["viewer"]) as c:
        assert c.post("/api/v1/ingest", json=batch).status_code == 403
    entries = _entries(proc, tokens["admin"], path="/api/v1/ingest")
    assert [(e["actor"], e["status"]) for e in entries] == [("watcher", 403)]


def test_entries_page_newest_first_and_filter_by_actor(node):
    proc, tokens = node
    with _client(proc, tokens["operator"]) as c:
        for theme in ("a", "b", "c"):
            c.put("/api/v1/preferences", json={"theme": theme})
    first = _entries(proc, tokens["admin"], actor="deployer", limit=2)
    assert len(first) == 2 and first[0]["id"] > first[1]["id"]
    older = _entries(proc, tokens["admin"], actor="deployer", before_id=first[1]["id"], limit=2)
    assert older and all(e["id"] < first[1]["id"] for e in older)
    assert {e["actor"] for e in first + older} == {"deployer"}


def test_only_an_admin_reads_the_audit_log(node):
    proc, tokens = node
    with _client(proc, tokens["operator"]) as c:
        resp = c.get("/api/v1/audit")
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("application/problem+json")
    with _client(proc) as c:
        assert c.get("/api/v1/audit").status_code == 401


def test_entries_written_just_before_a_stop_survive_it(tmp_path):
    admin = create_token(tmp_path, "admin", "late")
    proc = NodeProcess(tmp_path).start()
    with _client(proc, admin) as c:
        assert c.post("/api/v1/storage/cache/clear").status_code == 200
    assert proc.stop() == 0  # the writer's last batch is flushed on the way out
    again = NodeProcess(tmp_path).start()
    try:
        entries = _entries(again, admin, path="/api/v1/storage/cache/clear")
        assert [(e["actor"], e["status"]) for e in entries] == [("late", 200)]
    finally:
        assert again.stop() == 0


def _entry(ts, actor="x"):
    return AuditEntry(ts, actor, "token", "admin", "POST", "/p", 200, "127.0.0.1", "d")


def test_entries_past_the_retention_are_pruned(db_target):
    now = [1_000_000.0]
    store = AuditStore(db_target)
    writer = AuditWriter(store, retention_days=1, prune_every_s=0, clock=lambda: now[0])
    store.append([_entry(now[0] - 2 * 86400, "old"), _entry(now[0] - 3600, "recent")])
    writer.record(_entry(now[0], "new"))
    asyncio.run(writer.flush())
    assert [e.actor for e in store.query()] == ["new", "recent"]
    store.close()


def test_a_stuck_writer_drops_new_entries_instead_of_growing(db_target):
    store = AuditStore(db_target)
    writer = AuditWriter(store, retention_days=1, max_pending=3)
    for i in range(5):
        writer.record(_entry(float(i)))
    assert writer.dropped == 2
    writer.flush_sync()
    assert len(store.query()) == 3
    store.close()


def test_the_dashboard_reads_entries_it_just_caused(node):
    proc, tokens = node
    with _client(proc, tokens["admin"]) as c:
        c.post("/api/v1/storage/cache/clear")
        # No wait: the GET flushes the writer's batch before it reads.
        entries = c.get("/api/v1/audit", params={"limit": 1}).json()["entries"]
    assert entries[0]["path"] == "/api/v1/storage/cache/clear"
