"""Two real `sentra up` nodes on one PostgreSQL database: `[history] backend = "postgres"`.

What one node ingests the other answers, sealed or not; a clean stop seals into the shared
tables; `sentra storage` reads the history there.
"""

import json
import os
import subprocess
import time

import httpx
import psycopg

from tests.dbtarget import fresh_postgres
from tests.nodeproc import SENTRA, NodeProcess, create_token, wait_for


def _configure(data_dir, dsn):
    (data_dir / "config").mkdir(parents=True)
    (data_dir / "config" / "sentra.toml").write_text(
        f'[history]\nbackend = "postgres"\npostgres_dsn = "{dsn}"\n'
    )


def _points(client, name, since):
    r = client.get(
        "/api/v1/history",
        params={"name": name, "from": since, "to": time.time() + 60, "limit": 100000},
    )
    return r.json()["series"][0]["points"] if r.status_code == 200 else []


def test_two_nodes_share_history_on_postgres(tmp_path):
    with fresh_postgres() as target:
        a_dir, b_dir = tmp_path / "a", tmp_path / "b"
        for d in (a_dir, b_dir):
            _configure(d, target.dsn)
        a = NodeProcess(a_dir).start()
        b = NodeProcess(b_dir).start()
        token = create_token(a_dir)  # tokens live in the shared database too
        h = {"Authorization": f"Bearer {token}"}
        ca = httpx.Client(base_url=a.url, headers=h, timeout=10)
        cb = httpx.Client(base_url=b.url, headers=h, timeout=10)
        try:
            now = time.time()
            batch = {
                "metrics": [
                    {"name": "app.pg", "value": i, "ts": now - 50 + i, "labels": {"n": "a"}}
                    for i in range(50)
                ]
            }
            r = ca.post("/api/v1/ingest", json=batch)
            assert r.status_code == 200 and r.json()["accepted"]["metrics"] == 50, r.text
            # B never saw the batch: it answers from the shared head table, each point once.
            got = wait_for(lambda: len(pts := _points(cb, "app.pg", now - 100)) == 50 and pts)
            assert [p[1] for p in got] == [float(i) for i in range(50)]
            # Both nodes sample this host into the same series rows.
            wait_for(lambda: len(_points(cb, "system.cpu.utilization", now - 60)) >= 5)
            assert a.stop() == 0  # a clean stop seals the head into chunks
            assert [p[1] for p in _points(cb, "app.pg", now - 100)] == [float(i) for i in range(50)]
        finally:
            ca.close()
            cb.close()
            if a.proc is not None and a.proc.poll() is None:
                a.stop()
            assert b.stop() == 0
        with psycopg.connect(target.dsn) as conn:
            (chunked,) = conn.execute(
                "SELECT coalesce(sum(n), 0) FROM chunks JOIN series ON series.id = series_id "
                "WHERE series.name = 'app.pg'"
            ).fetchone()
            (in_head,) = conn.execute("SELECT count(*) FROM head").fetchone()
        assert (chunked, in_head) == (50, 0)
        out = subprocess.run(
            [SENTRA, "storage", "--data-dir", str(b_dir)],
            env={k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")},
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        info = json.loads(out.stdout)
        assert info["database"].startswith("postgresql://postgres@127.0.0.1:5432/sentra_t_")
        assert info["history"]["raw_samples"] >= 50 and info["history"]["head_rows"] == 0
