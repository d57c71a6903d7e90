"""`sentra rollout …` against a real node on loopback (one `sentra up` for the module)."""

from __future__ import annotations

import json
import secrets
import time

import httpx
import pytest
from typer.testing import CliRunner

from sentra.cli.rollout import app
from tests.nodeproc import NodeProcess, create_token, free_port, wait_for

runner = CliRunner()

SPEC = """\
name: {name}
target: {{service: shop, stable: v1, canary: v2}}
steps:
  - {{weight: 5, hold: 30s}}
  - {{weight: 15, hold: 30s}}
  - {{weight: 100, hold: 0s}}
analysis: {{interval: 0.2s}}
gates:
  - {{name: errors, query: error_rate_pct, max: 5, no_data: pass}}
actuator: {{type: pull}}
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("cli-rollout")
    token = create_token(data, "admin")
    proc = NodeProcess(data).start()
    proc.token = token  # type: ignore[attr-defined]
    yield proc
    proc.stop()


def cli(node, *args: str):
    return runner.invoke(app, [*args, "--url", node.url, "--token", node.token])


def write_spec(tmp_path, name: str, text: str | None = None):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text if text is not None else SPEC.format(name=name))
    return path


# ------------------------------------------------------------------ validate (no node)


def test_validate_prints_every_problem_as_file_line_col_and_exits_1(tmp_path):
    path = write_spec(
        tmp_path,
        "bad",
        "name: Shop\ntarget: {service: shop, stable: v1, canary: v2}\n"
        "gates:\n  - {name: p95, query: latency_p95_ms}\nactuator: {type: haproxy}\n",
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{path}:1:7: name: 'Shop' is not a valid name" in lines[0]
    assert any(line.startswith(f"{path}:4:5: gates.0: gate 'p95' needs a bound") for line in lines)
    assert any(
        f"{path}:5:11: actuator.haproxy.backend: this field is required" in line for line in lines
    )
    assert "nothing was applied" in lines[-1]


def test_validate_summarises_a_good_spec_and_prints_the_schema(tmp_path):
    result = runner.invoke(app, ["validate", str(write_spec(tmp_path, "shop"))])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "shop: valid — 3 steps (5 → 15 → 100 %), 1 gate(s) (errors), no judge, actuator pull"
    )
    schema = runner.invoke(app, ["validate", "--schema"])
    assert schema.exit_code == 0
    assert json.loads(schema.output)["title"] == "Sentra rollout spec"


# ------------------------------------------------------------------ against the node


def test_apply_list_status_and_history_show_the_rollout(node, tmp_path):
    result = cli(node, "apply", str(write_spec(tmp_path, "shop-a")))
    assert result.exit_code == 0, result.output
    assert "applied shop-a: progressing" in result.output

    listed = cli(node, "list", "--json")
    assert any(r["name"] == "shop-a" for r in json.loads(listed.output))
    assert "shop-a" in cli(node, "list").output

    status = runner.invoke(
        app, ["status", "shop-a", "--url", node.url, "--token", node.token], env={"COLUMNS": "200"}
    )
    assert status.exit_code == 0, status.output
    assert "[5] → 15 → 100" in status.output
    assert "stable 95% · canary 5%" in status.output
    assert "pause, promote, abort" in status.output
    wait_for(lambda: "errors" in cli(node, "status", "shop-a", "--json").output, timeout=10)

    history = cli(node, "history", "shop-a", "--json")
    kinds = [d["kind"] for d in json.loads(history.output)]
    assert kinds[0] == "start"
    assert json.loads(history.output)[0]["actor"] == "token:test"


def test_pause_resume_and_full_promotion_then_watch_exits_0(node, tmp_path):
    assert cli(node, "apply", str(write_spec(tmp_path, "shop-b"))).exit_code == 0
    paused = cli(node, "pause", "shop-b")
    assert paused.exit_code == 0 and "shop-b: paused" in paused.output
    assert "shop-b: progressing" in cli(node, "resume", "shop-b").output
    assert cli(node, "promote", "shop-b", "--full").exit_code == 0

    watched = cli(node, "watch", "shop-b", "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    assert "shop-b ended: promoted" in watched.output
    assert "promoted fully by token:test" in watched.output  # the decisions are listed
    kinds = [d["kind"] for d in json.loads(cli(node, "history", "shop-b", "--json").output)]
    assert kinds == ["start", "pause", "resume", "promote", "promoted"]


def test_abort_makes_watch_exit_3_and_retry_starts_again(node, tmp_path):
    assert cli(node, "apply", str(write_spec(tmp_path, "shop-c"))).exit_code == 0
    assert cli(node, "abort", "shop-c").exit_code == 0
    watched = cli(node, "watch", "shop-c", "--interval", "0.2")
    assert watched.exit_code == 3, watched.output
    assert "shop-c ended: aborted" in watched.output
    retried = cli(node, "retry", "shop-c")
    assert retried.exit_code == 0 and "shop-c: progressing" in retried.output


def test_a_refused_action_is_one_red_line_with_the_nodes_reason(node, tmp_path):
    assert cli(node, "apply", str(write_spec(tmp_path, "shop-d"))).exit_code == 0
    result = cli(node, "resume", "shop-d")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "sentra: 409: only a paused rollout can be resumed; this one is progressing"
    )
    missing = cli(node, "status", "nope")
    assert missing.exit_code == 1 and "404: there is no rollout named 'nope'" in missing.output


def test_apply_of_an_invalid_spec_prints_the_nodes_positions(node, tmp_path):
    path = write_spec(
        tmp_path, "broken", SPEC.format(name="broken").replace("weight: 15", "weight: 2")
    )
    result = cli(node, "apply", str(path))
    assert result.exit_code == 1
    # the node reports the cross-field rule at the step it is about, as `validate` does
    lines = result.output.splitlines()
    assert any(
        line.startswith(f"{path}:")
        and "steps.1.weight: step weights must increase: 2 follows 5" in line
        for line in lines
    ), lines
    assert "400: the rollout spec is not valid" in result.output


def test_without_a_token_the_cli_says_how_to_get_one(node):
    result = runner.invoke(app, ["list", "--url", node.url], env={"SENTRA_TOKEN": ""})
    assert result.exit_code == 1
    assert "401" in result.output and "sentra token create" in result.output


def test_a_node_that_is_not_running_gets_a_hint_to_start_it():
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["list", "--url", url, "--token", "x"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"sentra: cannot connect to {url}: is the node running? start it with 'sentra up'"
    )


# ------------------------------------------------------------------ replay


def _otlp(version: str, start: float, n: int, error_every: int = 0) -> dict:
    spans = []
    for i in range(n):
        t = int((start + i * 0.1) * 1e9)
        spans.append(
            {
                "traceId": secrets.token_hex(16),
                "spanId": secrets.token_hex(8),
                "name": "GET /",
                "kind": 2,
                "startTimeUnixNano": str(t),
                "endTimeUnixNano": str(t + 20_000_000),
                "status": {"code": 2 if error_every and i % error_every == 0 else 1},
            }
        )
    resource = {
        "attributes": [
            {"key": "service.name", "value": {"stringValue": "shop"}},
            {"key": "service.version", "value": {"stringValue": version}},
        ]
    }
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}


def test_replay_runs_the_policy_over_what_the_node_recorded(node, tmp_path):
    t1 = float(int(time.time()) - 60)
    headers = {"Authorization": f"Bearer {node.token}"}
    for version, errors in (("v1", 0), ("v2", 2)):  # v2 fails every other request
        r = httpx.post(
            f"{node.url}/v1/traces", json=_otlp(version, t1, 500, errors), headers=headers
        )
        assert r.status_code == 200, r.text
    spec = write_spec(
        tmp_path,
        "replayed",
        SPEC.format(name="replayed")
        .replace("interval: 0.2s", "interval: 1s")
        .replace("no_data: pass", "min_samples: 5"),
    )
    args = [
        "replay",
        str(spec),
        "--from",
        str(t1),
        "--to",
        str(t1 + 50),
        "--data-dir",
        str(node.data_dir),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split()[2] == "start"
    assert "rollback" in lines[1] and "errors breached twice in a row" in lines[1]
    assert lines[-1] == "end phase: rolled_back"

    as_json = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert [d["kind"] for d in as_json["decisions"]] == ["start", "rollback", "rolled_back"]
    assert as_json["decisions"][1]["ts"] == t1 + 2  # two breaches, one per simulated second
