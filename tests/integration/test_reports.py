"""KPI reports from a real node: a rollout driven to its end by real traffic, then its
report rendered through the API and the CLI, saved under reports/, downloaded and read
back with pdftotext; the node report over a relative window; names that try to leave
the reports folder are refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.test_rollouts import apply, phase, spec, traffic
from tests.nodeproc import SENTRA, NodeProcess, create_token, wait_for


def pdf_text(data: bytes, tmp: Path) -> str:
    path = tmp / "read.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("reports")
    tokens = {role: create_token(data, role, name=role) for role in ("admin", "operator", "viewer")}
    proc = NodeProcess(data).start()
    with httpx.Client(
        base_url=proc.url, headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=30
    ) as c:
        apply(c, spec("healthy"))
        t = traffic((proc, tokens["admin"]), "healthy")
        try:
            wait_for(lambda: phase(c, "healthy") == "promoted", timeout=60)
        finally:
            t.stop()
    yield proc, tokens
    assert proc.stop() == 0


def client(node, role: str) -> httpx.Client:
    proc, tokens = node
    return httpx.Client(
        base_url=proc.url, headers={"Authorization": f"Bearer {tokens[role]}"}, timeout=60
    )


def test_a_rollout_report_is_rendered_saved_listed_and_downloaded(node, tmp_path):
    proc, _ = node
    with client(node, "operator") as c:
        r = c.post("/api/v1/reports/rollouts/healthy")
        assert r.status_code == 201, r.text
        saved = r.json()
        assert saved["name"].startswith("rollout-healthy-") and saved["name"].endswith(".pdf")
        assert saved["url"] == f"/api/v1/reports/{saved['name']}" and saved["size"] > 10_000
    on_disk = proc.data_dir / "reports" / saved["name"]
    assert on_disk.is_file() and on_disk.stat().st_size == saved["size"]
    with client(node, "viewer") as c:
        listed = c.get("/api/v1/reports").json()["reports"]
        assert saved["name"] in [x["name"] for x in listed]
        got = c.get(saved["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.content == on_disk.read_bytes()
    text = pdf_text(got.content, tmp_path)
    for expected in (
        "Rollout healthy",
        "PASS",
        "errors",
        "error_rate_pct",
        "≤ 5%",
        "≤ 200 ms",
        "promoted",
        "token:admin",
        "shop: v1 → v2",
        "Decision timeline",
    ):
        assert expected in text, expected
    assert "FAIL" not in text  # a promoted rollout whose gates passed


def test_rendering_needs_the_operator_role_and_is_audited(node):
    with client(node, "viewer") as c:
        r = c.post("/api/v1/reports/rollouts/healthy")
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
    with client(node, "admin") as c:
        c.post("/api/v1/reports/rollouts/healthy").raise_for_status()
        entries = c.get("/api/v1/audit", params={"path": "/api/v1/reports/"}).json()["entries"]
    assert any(
        e["status"] == 201 and e["detail"].startswith("report rollout-healthy-") for e in entries
    )
    assert any(e["status"] == 403 and e["actor"] == "viewer" for e in entries)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/v1/reports/rollouts/nope", 404),
        ("POST", "/api/v1/reports/node?from=200&to=100", 400),
        ("POST", "/api/v1/reports/node?from=nan", 400),
        ("GET", "/api/v1/reports/missing-20251201T000000Z.pdf", 404),
        ("GET", "/api/v1/reports/..%2F..%2Fstate%2Fjwt.key", 404),  # never the reports route
        ("GET", "/api/v1/reports/..%2Fdb%2Fsentra.db", 404),
        ("GET", "/api/v1/reports/%2e%2e", 400),
        ("GET", "/api/v1/reports/.hidden.pdf", 400),
        ("GET", "/api/v1/reports/jwt.key", 400),
    ],
)
def test_bad_requests_get_problems_and_nothing_leaves_the_folder(node, method, path, status):
    with client(node, "operator") as c:
        r = c.request(method, path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert b"kid" not in r.content and b"SQLite" not in r.content


def test_the_cli_renders_rollout_and_node_reports(node, tmp_path):
    proc, tokens = node
    env = {"PATH": "/usr/bin:/bin", "SENTRA_URL": proc.url, "SENTRA_TOKEN": tokens["operator"]}
    out = tmp_path / "rollout.pdf"
    done = subprocess.run(
        [SENTRA, "report", "rollout", "healthy", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_bytes().startswith(b"%PDF-") and f"wrote {out}" in done.stdout
    assert "Rollout healthy" in pdf_text(out.read_bytes(), tmp_path)

    node_pdf = tmp_path / "node.pdf"
    done = subprocess.run(
        [SENTRA, "report", "node", "--from", "-10m", "--to", "now", "--out", str(node_pdf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = pdf_text(node_pdf.read_bytes(), tmp_path)
    assert "Host metrics over the window" in text and "CPU" in text and "memory" in text
    assert any(p.name.startswith("node-") for p in (proc.data_dir / "reports").iterdir())

    done = subprocess.run(
        [SENTRA, "report", "rollout", "nope", "--out", str(tmp_path / "x.pdf")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "404" in done.stdout + done.stderr
    assert not (tmp_path / "x.pdf").exists()
    done = subprocess.run(
        [SENTRA, "report", "node", "--from", "yesterday-ish"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "is not a time" in done.stdout + done.stderr
