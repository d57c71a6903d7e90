"""Failover of the rollout controller between two real nodes on one PostgreSQL database.

Both nodes serve the same rollouts; exactly one (the holder of the rollout's advisory
lock) acts. The leader is killed with SIGKILL in the middle of the rollout; the other node
must carry it on from the persisted state to promotion without taking any step twice.
"""

from __future__ import annotations

import time

import httpx

from tests.dbtarget import fresh_postgres
from tests.nodeproc import NodeProcess, create_token, wait_for

SPEC = """\
name: fo
target: {service: shop, stable: v1, canary: v2}
steps:
  - {weight: 10, hold: 1s}
  - {weight: 20, hold: 1s}
  - {weight: 30, hold: 1s}
  - {weight: 50, hold: 1s}
  - {weight: 70, hold: 1s}
  - {weight: 100, hold: 0s}
analysis: {interval: 0.3s, window: 10s}
gates:
  - {name: errors, query: error_rate_pct, max: 5, no_data: pass}
actuator: {type: pull}
"""


def _configure(data_dir, dsn):
    (data_dir / "config").mkdir(parents=True)
    (data_dir / "config" / "sentra.toml").write_text(
        f'[history]\nbackend = "postgres"\npostgres_dsn = "{dsn}"\n'
    )


def test_a_killed_leader_is_replaced_without_a_double_step(tmp_path):
    with fresh_postgres() as target:
        dirs = [tmp_path / "a", tmp_path / "b"]
        for d in dirs:
            _configure(d, target.dsn)
        nodes = [NodeProcess(d).start() for d in dirs]
        token = create_token(dirs[0])
        h = {"Authorization": f"Bearer {token}"}
        clients = [httpx.Client(base_url=n.url, headers=h, timeout=10) for n in nodes]
        try:
            r = clients[1].post(
                "/api/v1/rollouts", content=SPEC, headers={"Content-Type": "application/yaml"}
            )
            assert r.status_code == 201, r.text

            def leaders():
                return [c.get("/api/v1/rollouts/fo").json().get("leader") for c in clients]

            # the node that did not create it sees it too; exactly one leads
            wait_for(lambda: sum(map(bool, leaders())) == 1, timeout=20)
            time.sleep(1.0)
            assert sum(map(bool, leaders())) == 1
            lead = leaders().index(True)
            other = 1 - lead
            wait_for(
                lambda: clients[other].get("/api/v1/rollouts/fo").json()["step_index"] >= 2,
                timeout=30,
            )
            killed_at = time.time()
            nodes[lead].kill9()

            def decisions():
                got = clients[other].get("/api/v1/rollouts/fo/decisions?limit=200").json()
                return list(reversed(got["decisions"]))

            wait_for(lambda: clients[other].get("/api/v1/rollouts/fo").json()["leader"], 20)
            wait_for(lambda: any(d["ts"] > killed_at for d in decisions()), timeout=20)
            wait_for(
                lambda: clients[other].get("/api/v1/rollouts/fo").json()["phase"] == "promoted",
                timeout=60,
            )
            ds = decisions()
            kinds = [d["kind"] for d in ds]
            steps = [d["step_index"] for d in ds if d["kind"] == "step"]
            assert kinds[0] == "start" and kinds[-1] == "promoted", kinds
            assert steps == sorted(set(steps)), f"a step was taken twice: {kinds} {steps}"
            assert len(steps) == 4, kinds  # 10 -> 20 -> 30 -> 50 -> 70, then promote
            weights = clients[other].get("/api/v1/rollouts/fo/weights").json()["weights"]
            assert weights["canary"] == 100
        finally:
            for c in clients:
                c.close()
            for n in nodes:
                if n.proc and n.proc.poll() is None:
                    n.stop()
