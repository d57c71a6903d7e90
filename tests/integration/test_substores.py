"""The small stores on the node's database, on SQLite and on PostgreSQL alike: rollouts and
their decisions (one transaction), tokens, agents, WireGuard peers and links, audit."""

from __future__ import annotations

import threading

import pytest

from sentra.auth.tokens import TokenStore
from sentra.config import load_settings
from sentra.store.open import DatabaseConfigError, db_target, open_stores
from sentra.store.sql import Dialect, open_db
from sentra.store.sqlite.agents import AgentStore
from sentra.store.sqlite.audit import AuditEntry, AuditStore
from sentra.store.sqlite.rollouts import RolloutExists, RolloutStore, StaleRollout
from sentra.store.sqlite.wireguard import Conflict, Counter, WgStore
from sentra.wireguard.model import Interface, Peer

STATE = {"phase": "running", "step": 0}


def _decision(kind: str = "step") -> dict:
    return {
        "kind": kind,
        "from_phase": "running",
        "to_phase": "running",
        "step_index": 1,
        "weights": {"stable": 90, "canary": 10},
        "actor": "controller",
        "reason": "gates passed",
        "evidence": {"p99_ms": 12.5},
    }


def test_rollout_state_and_decisions_are_one_transaction(db_target):
    store = RolloutStore(db_target)
    store.create("web", "{}", "name: web", STATE, 1.0)
    with pytest.raises(RolloutExists):
        store.create("web", "{}", "", STATE, 2.0, active_phases=["running"])
    saved = store.save("web", {**STATE, "step": 1}, [_decision(), _decision("pause")], 3.0)
    assert [d.id for d in saved] == sorted(d.id for d in saved) and saved[0].id > 0
    assert [d.kind for d in store.decisions("web")] == ["pause", "step"]  # newest first
    assert store.decisions("web", before_id=saved[1].id)[0].evidence == {"p99_ms": 12.5}
    # A failing decision (missing column value) takes the state change down with it.
    broken = {**_decision(), "reason": None}
    with pytest.raises(Exception, match=r"(?i)null"):
        store.save("web", {**STATE, "step": 2}, [_decision(), broken], 4.0)
    got = store.get("web")
    assert got is not None and got.state["step"] == 1 and got.updated_at == 3.0
    assert len(store.decisions("web")) == 2
    # The fence: a writer that read an older row writes nothing.
    with pytest.raises(StaleRollout):
        store.save("web", STATE, [_decision()], 5.0, expect_updated_at=1.0)
    store.save("web", {**STATE, "step": 3}, [], 6.0, expect_updated_at=3.0)
    reader = RolloutStore(db_target, readonly=True)
    assert [r.name for r in reader.all()] == ["web"]
    reader.close()
    assert store.delete("web") and store.decisions("web") == [] and not store.delete("web")
    store.close()


def test_rollout_versions_list_each_row_s_last_write_and_phase(db_target):
    store = RolloutStore(db_target)
    store.create("a", "{}", "", {"phase": "pending"}, 1.0, active_phases=[])
    store.create("b", "{}", "", {"phase": "pending"}, 2.0, active_phases=[])
    store.save("b", {"phase": "promoted"}, [], 3.5, expect_updated_at=2.0)
    assert store.versions() == {"a": (1.0, "pending"), "b": (3.5, "promoted")}
    store.close()


def test_tokens_verify_list_and_revoke(db_target):
    tokens = TokenStore(db_target)
    token = tokens.create("ci", "operator", now=10.0)
    info = tokens.verify(token)
    assert info is not None and info.role == "operator"
    assert tokens.verify(token[:-1] + "x") is None
    [listed] = tokens.list()
    assert listed.name == "ci" and listed.last_used_at is not None and tokens.count() == 1
    assert tokens.revoke(info.id) and tokens.verify(token) is None
    tokens.close()


def test_agents_survive_a_restart(db_target):
    agents = AgentStore(db_target, persist_every_s=0)
    agents.heartbeat({"id": "h1", "host": "a"}, 100.0)
    agents.heartbeat({"id": "h1", "host": "a"}, 105.0)
    agents.close()
    again = AgentStore(db_target)
    [record] = again.all()
    assert record["heartbeats"] == 2 and record["first_seen"] == 100.0
    assert again.delete("h1") and again.all() == []
    again.close()


def _peer(pid: str, key: str) -> Peer:
    return Peer(pid, "wg0", pid, key, ["10.8.0.2/32"], [], [], True, None, 1.0, 1.0)


def test_wireguard_peers_conflicts_counters_and_links(db_target):
    wg = WgStore(db_target)
    wg.add_interface(Interface("wg0", ["10.8.0.1/24"], 51820, "PUB=", "sealed"))
    with pytest.raises(Conflict):
        wg.add_interface(Interface("wg0", ["10.9.0.1/24"], 51821, "PUB2=", "sealed"))
    wg.add_peer(_peer("p1", "KEY1="))
    with pytest.raises(Conflict):
        wg.add_peer(_peer("p2", "KEY1="))  # same key on the same interface
    wg.add_peer(_peer("p2", "KEY2="))
    assert wg.peer_counts() == {"wg0": 2}
    wg.save_counters(
        [("p1", Counter(10, 20, 10, 20, "1.2.3.4:5"))], [("p1", 7.0, "1.2.3.4:5")], 7.0
    )
    wg.save_counters([("gone", Counter(1, 1, 1, 1, None))], [("gone", 8.0, "x")], 8.0)
    assert wg.counters()["p1"].rx_total == 10
    assert [e.endpoint for e in wg.endpoints("p1")] == ["1.2.3.4:5"] and wg.endpoints("gone") == []
    wg.add_link("h", "p1", 1.0, 100.0)
    results: list[str | None] = []
    racers = [
        threading.Thread(target=lambda: results.append(wg.redeem_link("h", 2.0))) for _ in range(4)
    ]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert results.count("p1") == 1 and results.count(None) == 3  # works exactly once
    assert wg.delete_interface("wg0") and wg.peers() == [] and "p1" not in wg.counters()
    wg.close()


def test_audit_filters_by_actor_and_path_prefix(db_target):
    audit = AuditStore(db_target)
    audit.append(
        [
            AuditEntry(float(i), actor, "user", "admin", "POST", path, 200, "127.0.0.1", "")
            for i, (actor, path) in enumerate(
                [("ann", "/api/v1/users"), ("bob", "/api/v1/users/x"), ("ann", "/api/v1/wg%")]
            )
        ]
    )
    assert [e.path for e in audit.query(actor="ann")] == ["/api/v1/wg%", "/api/v1/users"]
    assert len(audit.query(path="/api/v1/users")) == 2
    assert [e.actor for e in audit.query(path="/api/v1/wg%")] == ["ann"]
    first = audit.query(limit=1)[0]
    assert [e.actor for e in audit.query(before_id=first.id)] == ["bob", "ann"]
    assert audit.prune(1.0) == 1
    audit.close()


def test_open_stores_picks_the_engine_from_the_settings(tmp_path, empty_db_target):
    env = {}
    if empty_db_target.dialect is Dialect.POSTGRES:
        env = {
            "SENTRA_HISTORY_BACKEND": "postgres",
            "SENTRA_HISTORY_POSTGRES_DSN": empty_db_target.dsn,
        }
    settings = load_settings(data_dir=tmp_path, environ=env)
    stores = open_stores(settings)  # migrates
    assert stores.target == (empty_db_target if env else db_target(settings))
    stores.tokens.create("x", "viewer")
    stores.close()
    db = open_db(stores.target)
    assert db.execute("SELECT count(*) FROM tokens").fetchone() == (1,)
    db.close()


def test_postgres_settings_that_name_no_database_are_refused(tmp_path):
    settings = load_settings(data_dir=tmp_path, environ={"SENTRA_HISTORY_BACKEND": "postgres"})
    with pytest.raises(DatabaseConfigError, match="postgres_dsn"):
        db_target(settings)
