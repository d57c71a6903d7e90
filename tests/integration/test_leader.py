"""One controller per rollout across nodes: PostgreSQL advisory-lock leases, discovery of
rollouts created elsewhere, fencing of stale writes, and failover when the leader dies.

The controllers share one rollout table (a SQLite file here; tests/integration/
test_failover.py runs whole nodes on PostgreSQL) and compete for leases on the real
PostgreSQL server on loopback.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from sentra.rollout.controller import RolloutController
from sentra.rollout.lease import PgLeases
from sentra.rollout.spec import load_spec
from sentra.store.sqlite import SqliteStore
from sentra.store.sqlite.rollouts import RolloutStore, StaleRollout
from tests.dbtarget import ADMIN_DSN, require_postgres

SPEC = """\
name: {name}
target: {{service: shop, stable: v1, canary: v2}}
steps:
  - {{weight: 20, hold: 0.6s}}
  - {{weight: 40, hold: 0.6s}}
  - {{weight: 60, hold: 0.6s}}
  - {{weight: 80, hold: 0.6s}}
  - {{weight: 100, hold: 0s}}
analysis: {{interval: 0.2s, window: 10s}}
gates:
  - {{name: errors, query: error_rate_pct, max: 5, no_data: pass}}
actuator: {{type: pull}}
"""

DSN = ADMIN_DSN  # advisory locks are per database; rollout names are unique per test


@pytest.fixture(autouse=True)
def _postgres() -> None:
    require_postgres()


def _controller(db: Path) -> RolloutController:
    return RolloutController(
        RolloutStore(db),
        bus=None,
        telemetry=SqliteStore(db),
        leases=PgLeases(DSN),
        tick_s=0.05,
        discover_s=0.2,
    )


async def _until(cond, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


def test_stale_save_is_refused_and_writes_nothing(tmp_path):
    store = RolloutStore(tmp_path / "db.sqlite")
    store.create("r", "{}", "", {"phase": "pending"}, 1.0, active_phases=[])
    store.save("r", {"phase": "progressing"}, [], 2.0, expect_updated_at=1.0)
    with pytest.raises(StaleRollout):
        store.save(
            "r",
            {"phase": "promoted"},
            [
                dict(
                    kind="x",
                    from_phase="a",
                    to_phase="b",
                    step_index=0,
                    weights={},
                    actor="t",
                    reason="r",
                )
            ],
            3.0,
            expect_updated_at=1.0,
        )
    row = store.get("r")
    assert row is not None and row.state["phase"] == "progressing" and row.updated_at == 2.0
    assert store.decisions("r") == []


def test_one_leader_then_failover_without_a_double_step(tmp_path):
    name = f"fo-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "db.sqlite"

    async def main() -> tuple[list, dict[str, int]]:
        a, b = _controller(db), _controller(db)
        a.load(), b.load()
        spec = load_spec(SPEC.format(name=name))
        await a.create(spec, SPEC.format(name=name), actor="test")
        ta = asyncio.create_task(a.run())
        tb = asyncio.create_task(b.run())
        try:
            await _until(lambda: a.leases.holds(name) or b.leases.holds(name))
            await asyncio.sleep(0.5)
            # exactly one leads, and the other has discovered the rollout
            assert a.leases.holds(name) != b.leases.holds(name)
            assert name in a.states() and name in b.states()
            leader, follower, lt = (a, b, ta) if a.leases.holds(name) else (b, a, tb)
            store = RolloutStore(db)
            await _until(lambda: store.get(name).state["step_index"] >= 1)
            # the leader dies: its loop stops and its database session is cut
            lt.cancel()
            await asyncio.gather(lt, return_exceptions=True)
            await leader.leases.close()
            await _until(lambda: follower.leases.holds(name), timeout=10)
            await _until(lambda: store.get(name).state["phase"] == "promoted", timeout=30)
            decisions = list(reversed(store.decisions(name, limit=100)))
            return decisions, {"a": a.leases.acquired, "b": b.leases.acquired}
        finally:
            for t in (ta, tb):
                t.cancel()
            await asyncio.gather(ta, tb, return_exceptions=True)
            await a.close()
            await b.close()

    decisions, acquired = asyncio.run(main())
    kinds = [d.kind for d in decisions]
    assert kinds[0] == "start" and kinds[-1] == "promoted", kinds
    steps = [d.step_index for d in decisions if d.kind == "step"]
    assert steps == sorted(set(steps)), f"a step was taken twice: {kinds} {steps}"
    assert len(steps) == 3, kinds  # 20 -> 40 -> 60 -> 80, then promote to 100
    assert acquired["a"] >= 1 and acquired["b"] >= 1
