"""Guarded rollouts against a real node process: steps, rollback, manual actions, restarts."""

from __future__ import annotations

import textwrap

import httpx
import pytest

from tests.nodeproc import NodeProcess, create_token, wait_for
from tests.traffic import Behaviour, Traffic

SPEC = """\
name: {name}
target: {{service: shop, stable: v1, canary: v2}}
steps:
  - {{weight: 20, hold: 1s}}
  - {{weight: 50, hold: 1s{manual}}}
  - {{weight: 100, hold: 0s}}
analysis: {{interval: 0.5s, window: 10s}}
gates:
  - {{name: errors, query: error_rate_pct, max: 5, no_data: hold, min_samples: 20}}
  - {{name: p95, query: latency_p95_ms, max: 200, no_data: hold, min_samples: 20}}
actuator: {actuator}
"""


def spec(name: str, *, manual: bool = False, actuator: str = "{type: pull}") -> str:
    return SPEC.format(name=name, manual=", manual: true" if manual else "", actuator=actuator)


@pytest.fixture
def node(tmp_path):
    token = create_token(tmp_path, "admin", name="alice")
    proc = NodeProcess(tmp_path).start()
    yield proc, token
    if proc.proc and proc.proc.poll() is None:
        proc.stop()


def client(node) -> httpx.Client:
    proc, token = node
    return httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def apply(c: httpx.Client, text: str) -> dict:
    resp = c.post("/api/v1/rollouts", content=text, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 201, resp.text
    return resp.json()


def phase(c: httpx.Client, name: str) -> str:
    return c.get(f"/api/v1/rollouts/{name}").json()["phase"]


def kinds(c: httpx.Client, name: str) -> list[str]:
    decisions = c.get(f"/api/v1/rollouts/{name}/decisions").json()["decisions"]
    return [d["kind"] for d in reversed(decisions)]


def traffic(node, name: str, bad: Behaviour | None = None) -> Traffic:
    proc, token = node
    behaviour = {"v1": Behaviour(), "v2": bad or Behaviour()}
    return Traffic(
        proc.url, token, name, "shop", {"stable": "v1", "canary": "v2"}, behaviour
    ).start()


def test_healthy_canary_goes_through_every_step_and_is_promoted(node):
    with client(node) as c:
        created = apply(c, spec("healthy"))
        assert created["phase"] == "progressing"
        assert created["weights"] == {"stable": 80, "canary": 20, "baseline": 0}
        t = traffic(node, "healthy")
        try:
            wait_for(lambda: phase(c, "healthy") == "promoted", timeout=40)
        finally:
            t.stop()
        assert kinds(c, "healthy") == ["start", "step", "promote", "promoted"]
        weights = c.get("/api/v1/rollouts/healthy/weights").json()
        assert weights["weights"] == {"stable": 0, "canary": 100, "baseline": 0}
        start = c.get("/api/v1/rollouts/healthy/decisions").json()["decisions"][-1]
        assert start["actor"] == "token:alice"
        # Gate values are kept as series for charts.
        hist = c.get(
            "/api/v1/history",
            params={"name": "sentra.rollout.gate.value", "labels": "rollout=healthy,gate=errors"},
        )
        assert hist.status_code == 200 and hist.json()["series"][0]["points"]


def test_failing_canary_rolls_back_with_evidence_and_trace_exemplars(node):
    with client(node) as c:
        apply(c, spec("failing"))
        t = traffic(node, "failing", bad=Behaviour(error_rate=0.4))
        try:
            wait_for(lambda: phase(c, "failing") == "rolled_back", timeout=30)
        finally:
            t.stop()
        decisions = c.get("/api/v1/rollouts/failing/decisions").json()["decisions"]
        rollback = next(d for d in decisions if d["kind"] == "rollback")
        assert "errors breached twice in a row" in rollback["reason"]
        gates = {g["name"]: g for g in rollback["evidence"]["gates"]}
        assert gates["errors"]["status"] == "breach" and gates["errors"]["value"] > 5
        exemplars = rollback["evidence"]["exemplars"]
        assert exemplars and exemplars[0]["status"] == "error"
        trace = c.get(f"/api/v1/traces/{exemplars[0]['trace_id']}")
        assert trace.status_code == 200 and trace.json()["spans"]
        assert c.get("/api/v1/rollouts/failing/weights").json()["weights"]["stable"] == 100
        assert decisions[0]["kind"] == "rolled_back"


def test_kill_9_at_a_manual_step_resumes_there_without_repeating_a_step(node, tmp_path):
    proc, token = node
    with client(node) as c:
        apply(c, spec("manual", manual=True))
        t = traffic(node, "manual")
        try:
            wait_for(lambda: c.get("/api/v1/rollouts/manual").json()["phase"] == "paused", 30)
        finally:
            t.stop()
        before = c.get("/api/v1/rollouts/manual").json()
        assert before["step_index"] == 1 and before["weights"]["canary"] == 50
        assert "resume" in before["actions"] and "promote" in before["actions"]
        seen = kinds(c, "manual")
    proc.kill9()
    again = NodeProcess(tmp_path).start()
    try:
        with httpx.Client(
            base_url=again.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as c:
            after = c.get("/api/v1/rollouts/manual").json()
            assert (after["phase"], after["step_index"], after["weights"]) == (
                "paused",
                1,
                before["weights"],
            )
            assert kinds(c, "manual") == seen == ["start", "step", "hold"]
            resp = c.post("/api/v1/rollouts/manual/promote")
            assert resp.status_code == 200 and resp.json()["phase"] == "promoting"
            wait_for(lambda: phase(c, "manual") == "promoted", timeout=20)
            decisions = c.get("/api/v1/rollouts/manual/decisions").json()["decisions"]
            promote = next(d for d in decisions if d["kind"] == "promote")
            assert promote["actor"] == "token:alice"
    finally:
        again.stop()


def test_a_rollback_under_way_survives_kill_9_and_finishes_after_restart(node, tmp_path):
    proc, token = node
    flag = tmp_path / "actuator-ok"
    flag.touch()
    actuator = f'{{type: command, argv: ["/bin/sh", "-c", "test -e {flag}"]}}'
    with client(node) as c:
        apply(c, spec("stuck", actuator=actuator))
        flag.unlink()  # from now on the actuator fails (retryable)
        resp = c.post("/api/v1/rollouts/stuck/abort")
        assert resp.status_code == 200 and resp.json()["phase"] == "rolling_back"
        wait_for(lambda: "actuator" in c.get("/api/v1/rollouts/stuck").json()["message"], 10)
    proc.kill9()
    again = NodeProcess(tmp_path).start()
    try:
        with httpx.Client(
            base_url=again.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as c:
            assert phase(c, "stuck") == "rolling_back"
            flag.touch()
            wait_for(lambda: phase(c, "stuck") == "aborted", timeout=15)
            assert kinds(c, "stuck")[-2:] == ["abort", "aborted"] or "aborted" in kinds(c, "stuck")
    finally:
        again.stop()


def test_invalid_specs_get_every_error_with_its_line(node):
    bad = textwrap.dedent(
        """\
        name: Bad Name
        target: {service: shop, stable: v1, canary: v2}
        steps:
          - weight: 150
        gates:
          - {name: e, query: error_rate_pct, max: 1, no_data: maybe}
        """
    )
    with client(node) as c:
        resp = c.post("/api/v1/rollouts", content=bad, headers={"Content-Type": "application/yaml"})
        assert resp.status_code == 400
        assert resp.headers["content-type"].startswith("application/problem+json")
        errors = resp.json()["errors"]
        assert {(e["line"], e["path"]) for e in errors} >= {
            (1, "name"),
            (4, "steps.0.weight"),
            (6, "gates.0.no_data"),
        }
        assert c.get("/api/v1/rollouts").json() == {"rollouts": []}


def test_actions_are_checked_and_recorded_with_who_did_them(node):
    with client(node) as c:
        apply(c, spec("steer"))
        assert c.post("/api/v1/rollouts/steer/resume").status_code == 409
        assert c.post("/api/v1/rollouts/steer/pause").json()["phase"] == "paused"
        assert c.post("/api/v1/rollouts/steer/resume").json()["phase"] == "progressing"
        assert c.post("/api/v1/rollouts/steer/explode").status_code == 404
        missing = c.get("/api/v1/rollouts/nope")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]
        dup = c.post(
            "/api/v1/rollouts", content=spec("steer"), headers={"Content-Type": "application/yaml"}
        )
        assert dup.status_code == 409
        assert c.post("/api/v1/rollouts/steer/abort").json()["phase"] in ("rolling_back", "aborted")
        wait_for(lambda: phase(c, "steer") == "aborted", 10)
        decisions = c.get("/api/v1/rollouts/steer/decisions").json()["decisions"]
        actors = {d["kind"]: d["actor"] for d in decisions}
        assert actors["pause"] == actors["resume"] == actors["abort"] == "token:alice"
        assert c.post("/api/v1/rollouts/steer/retry").json()["phase"] == "progressing"


def test_viewer_can_read_but_not_steer(node, tmp_path):
    proc, _ = node
    viewer = create_token(tmp_path, "viewer", name="bob")
    with client(node) as c:
        apply(c, spec("ro"))
    h = {"Authorization": f"Bearer {viewer}"}
    assert httpx.get(f"{proc.url}/api/v1/rollouts/ro", headers=h).status_code == 200
    assert httpx.post(f"{proc.url}/api/v1/rollouts/ro/abort", headers=h).status_code == 403


def test_judge_only_mode_answers_argo_and_flagger_without_moving_traffic(node):
    with client(node) as c:
        apply(c, spec("judged", actuator="{type: external}"))
        t = traffic(node, "judged")
        try:
            wait_for(
                lambda: c.get("/api/v1/rollouts/judged/verdict").json()["verdict"] == "pass", 20
            )
            assert c.post("/api/v1/rollouts/judged/check", json={"name": "x"}).status_code == 200
            t.behaviour["v2"] = Behaviour(error_rate=0.5)
            wait_for(
                lambda: c.get("/api/v1/rollouts/judged/verdict").json()["verdict"] == "fail", 20
            )
        finally:
            t.stop()
        check = c.post("/api/v1/rollouts/judged/check")
        assert check.status_code == 412
        assert check.headers["content-type"].startswith("application/problem+json")
        assert "fails" in check.json()["detail"]
        # Sentra never advanced a step on its own: only the start and the rollback.
        assert kinds(c, "judged")[:2] == ["start", "rollback"]
