"""Alerts on a real `sentra up`: rules applied over the API, samples ingested over HTTP,
notifications received by a real HTTP server and a real SMTP server (aiosmtpd) on loopback,
a dead notifier, the live stream, a restart, the CLI."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import subprocess
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.nodeproc import SENTRA, NodeProcess, create_token, free_port, wait_for

SECRET = "s3cret-signing-key"


class Receiver:
    """A loopback HTTP server that records every POST; ``status`` per path (default 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "at": time.monotonic(),
                    }
                )
                self.send_response(outer.status.get(self.path, 200))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd's handler interface: keep every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def smtp():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("alerts")
    (data / "config").mkdir(parents=True, exist_ok=True)
    proc = NodeProcess(
        data,
        interval=1.0,
        env={"ALERT_HOOK_SECRET": SECRET, "SENTRA_ALERTS_EVAL_INTERVAL_S": "0.1"},
    ).start()
    token = create_token(data)
    client = httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {token}"})
    yield proc, client, token
    client.close()
    proc.stop()


def put_rules(client: httpx.Client, text: str) -> dict[str, Any]:
    r = client.put("/api/v1/alerts/rules", content=text.encode())
    assert r.status_code == 200, r.text
    return r.json()


def ingest(client: httpx.Client, name: str, value: float, **labels: str) -> None:
    r = client.post(
        "/api/v1/ingest", json={"metrics": [{"name": name, "value": value, "labels": labels}]}
    )
    assert r.status_code == 200, r.text


def alerts(client: httpx.Client, rule: str) -> list[dict[str, Any]]:
    return [a for a in client.get("/api/v1/alerts").json()["alerts"] if a["rule"] == rule]


def state_of(client: httpx.Client, rule: str) -> str | None:
    found = alerts(client, rule)
    return found[0]["state"] if found else None


def test_threshold_fires_after_for_resolves_with_hysteresis_and_notifies_everyone(
    node, receiver, smtp, tmp_path
):
    _proc, client, _token = node
    box, smtp_port = smtp
    url_file = tmp_path / "slack-url"
    url_file.write_text(f"{receiver.url}/slack/T000/B000/XXXX\n")
    put_rules(
        client,
        f"""
notifiers:
  hook: {{type: webhook, url: "{receiver.url}/hook", secret_env: ALERT_HOOK_SECRET}}
  chat: {{type: slack, url_file: "{url_file}"}}
  mail: {{type: email, host: 127.0.0.1, port: {smtp_port}, sender: sentra@example.com,
          to: [oncall@example.com]}}
rules:
  - name: cpu-hot
    kind: threshold
    series: test.cpu
    labels: {{host: web-1}}
    threshold: 90
    for: 1s
    clear_at: 80
    clear_for: 1s
    severity: critical
    summary: the web box is hot
    notify: [hook, chat, mail]
""",
    )
    ingest(client, "test.cpu", 95, host="web-2")  # another host: not selected
    ingest(client, "test.cpu", 95, host="web-1")
    assert wait_for(lambda: state_of(client, "cpu-hot") == "pending", timeout=5)
    assert alerts(client, "cpu-hot")[0]["labels"] == {"host": "web-1"}
    fired = wait_for(
        lambda: [a for a in alerts(client, "cpu-hot") if a["state"] == "firing"], timeout=10
    )[0]
    assert fired["fired_at"] - fired["started_at"] >= 1.0
    assert fired["series"] == 'test.cpu{host="web-1"}' and fired["value"] == 95

    hooks = wait_for(lambda: receiver.on("/hook"))
    body = hooks[0]["body"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hooks[0]["headers"]["X-Sentra-Signature"] == expected
    payload = json.loads(body)
    assert payload["event"] == "alert" and payload["alert"]["state"] == "firing"
    assert payload["alert"]["id"] == fired["id"]
    slack = json.loads(wait_for(lambda: receiver.on("/slack/T000/B000/XXXX"))[0]["body"])
    assert slack["text"].startswith("[FIRING] cpu-hot (critical)")
    assert "*cpu-hot* firing" in slack["blocks"][0]["text"]["text"]
    rcpt, mail = wait_for(lambda: box.messages)[0]
    assert rcpt == ["oncall@example.com"]
    assert mail["Subject"].startswith("Sentra: [FIRING] cpu-hot")
    assert "the web box is hot" in mail.get_payload()
    sent = wait_for(
        lambda: all(
            v == "firing: sent" for v in alerts(client, "cpu-hot")[0]["notifications"].values()
        )
    )
    assert sent

    # Below the threshold but above clear_at: hysteresis keeps it firing.
    for _ in range(8):
        ingest(client, "test.cpu", 85, host="web-1")
        time.sleep(0.25)
    assert state_of(client, "cpu-hot") == "firing"
    ingest(client, "test.cpu", 70, host="web-1")
    resolved = wait_for(lambda: state_of(client, "cpu-hot") == "resolved", timeout=10)
    assert resolved
    final = alerts(client, "cpu-hot")[0]
    assert final["resolved_at"] - final["fired_at"] >= 2.0
    wait_for(lambda: len(receiver.on("/hook")) == 2)
    assert json.loads(receiver.on("/hook")[1]["body"])["alert"]["state"] == "resolved"
    wait_for(lambda: len(box.messages) == 2)
    assert len(receiver.on("/hook")) == 2  # exactly one firing and one resolved


def test_a_dead_notifier_retries_with_backoff_and_never_delays_evaluation(node, receiver):
    _proc, client, _token = node
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    receiver.status["/busy"] = 503
    put_rules(
        client,
        f"""
notifiers:
  dead: {{type: webhook, url: "{dead}", retries: 3, backoff: 300ms, timeout: 1s}}
  busy: {{type: webhook, url: "{receiver.url}/busy", retries: 3, backoff: 200ms}}
  live: {{type: webhook, url: "{receiver.url}/live"}}
rules:
  - {{name: q1, kind: threshold, series: test.q, threshold: 1, notify: [dead, busy]}}
  - {{name: q2, kind: threshold, series: test.q, threshold: 2, notify: [dead, busy, live]}}
""",
    )
    started = time.monotonic()
    ingest(client, "test.q", 5)
    wait_for(
        lambda: state_of(client, "q1") == "firing" and state_of(client, "q2") == "firing", timeout=5
    )
    assert wait_for(lambda: receiver.on("/live"), timeout=5)[0]["at"] - started < 2.0
    # The busy target got the first alert four times, the waits doubling (0.2, 0.4, 0.8 s).
    busy = wait_for(
        lambda: receiver.on("/busy") if len(receiver.on("/busy")) >= 4 else None, timeout=15
    )
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(busy[:4])]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38 and gaps[2] >= 0.78, gaps
    assert gaps[2] > gaps[1] > gaps[0]

    def dead_failed() -> dict[str, Any] | None:
        rules = client.get("/api/v1/alerts/rules").json()
        status = {n["name"]: n for n in rules["notifiers"]}["dead"]
        return status if status["failed"] >= 1 else None

    status = wait_for(dead_failed, timeout=20)
    assert status["attempts"] >= 4 and "cannot reach" in status["last_error"]
    assert any(
        v.startswith("firing: failed")
        for a in alerts(client, "q1")
        for v in a["notifications"].values()
    )
    # While the dead notifier is still working through its queue, evaluation goes on.
    ingest(client, "test.q", 0)
    assert wait_for(lambda: state_of(client, "q1") == "resolved", timeout=3)


def test_absence_anomaly_and_rollout_rules(node):
    _proc, client, _token = node
    put_rules(
        client,
        """
rules:
  - {name: beat, kind: absence, series: test.heartbeat, for: 1s}
  - {name: odd, kind: anomaly, series: test.latency, labels: {service: api}}
  - {name: rb, kind: rollout, decisions: [aborted]}
""",
    )
    assert wait_for(lambda: state_of(client, "beat") == "firing", timeout=5)
    ingest(client, "test.heartbeat", 1)
    assert wait_for(lambda: state_of(client, "beat") == "resolved", timeout=5)

    ingest(client, "sentra.anomaly.score", 5.0, series="test.latency", service="web")
    ingest(client, "sentra.anomaly.score", 5.0, series="test.latency", service="api")
    odd = wait_for(lambda: [a for a in alerts(client, "odd") if a["state"] == "firing"])
    assert len(odd) == 1 and odd[0]["labels"]["service"] == "api"

    spec = """
name: rb-demo
target: {service: shop, stable: v1, canary: v2}
gates: [{name: errors, query: error_rate_pct, max: 5}]
"""
    r = client.post("/api/v1/rollouts", content=spec.encode())
    assert r.status_code == 201, r.text
    assert client.post("/api/v1/rollouts/rb-demo/abort").status_code == 200
    fired = wait_for(lambda: [a for a in alerts(client, "rb") if a["state"] == "firing"])
    assert fired[0]["series"] == "rb-demo"


def test_live_stream_carries_alert_changes(node):
    proc, client, token = node
    put_rules(
        client, "rules: [{name: live-one, kind: threshold, series: test.live, threshold: 10}]\n"
    )
    got: list[dict[str, Any]] = []

    def listen() -> None:
        with httpx.stream(
            "GET",
            f"{proc.url}/api/v1/stream",
            params={"kinds": "alerts"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ) as resp:
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    items = [i for i in msg.get("items", []) if i["kind"] == "alerts"]
                    got.extend(items)
                    if items:
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(0.5)
    ingest(client, "test.live", 11)
    t.join(10)
    assert got and got[0]["topic"] == "alerts.live-one"
    assert got[0]["data"]["state"] == "firing" and got[0]["source"] == "live-one"


def test_bad_rules_are_refused_with_positions_and_audited(node, tmp_path):
    _proc, client, token = node
    r = client.put("/api/v1/alerts/rules", content=b"rules:\n  - name: x\n    kind: gauge\n")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["line"] == 3
    viewer = create_token(_proc.data_dir, "viewer", name="alert-viewer")
    r = httpx.put(
        f"{_proc.url}/api/v1/alerts/rules",
        content=b"rules: []\n",
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert r.status_code == 403
    put_rules(client, "rules: []\n")
    entries = client.get("/api/v1/audit", params={"limit": 20}).json()["entries"]
    puts = [e for e in entries if e["path"] == "/api/v1/alerts/rules"]
    assert {e["status"] for e in puts} >= {200, 422, 403}
    assert any("alert rules: 0 rule(s)" in e["detail"] for e in puts)
    assert (_proc.data_dir / "config" / "alerts.yaml").read_text() == "rules: []\n"
    assert client.post("/api/v1/alerts/deadbeef/ack").status_code == 404

    # The CLI: validate locally, apply over the API.
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("rules:\n  - {name: c, kind: threshold, series: s, threshold: 1}\n")
    bad.write_text("rules:\n  - {name: c, kind: threshold, series: s}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
    run = [SENTRA, "alert"]
    out = subprocess.run(
        [*run, "validate", str(bad)], env=env, capture_output=True, text=True, timeout=60
    )
    said = out.stdout + out.stderr
    assert out.returncode == 1 and f"{bad}:2:5:" in said and "needs threshold" in said
    out = subprocess.run(
        [*run, "apply", str(good), "--url", _proc.url, "--token", token],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "applied 1 rule(s)" in out.stdout
    assert client.get("/api/v1/alerts/rules").json()["rules"][0]["name"] == "c"


def test_recent_alerts_survive_a_restart_and_a_bad_file_does_not_stop_the_node(tmp_path):
    data = tmp_path / "node"
    (data / "config").mkdir(parents=True)
    (data / "config" / "alerts.yaml").write_text(
        "rules:\n  - {name: up, kind: threshold, series: test.r, threshold: 1}\n"
    )
    proc = NodeProcess(data, interval=1.0).start()
    token = create_token(data)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=proc.url, headers=headers) as c:
        ingest(c, "test.r", 5)
        fired = wait_for(lambda: alerts(c, "up"))[0]
        assert fired["state"] == "firing"
        assert c.post(f"/api/v1/alerts/{fired['id']}/ack").json()["acked_by"] == "token:test"
    assert proc.stop() == 0

    # Restart with a broken rules file: the node starts, says so, still shows the alert.
    (data / "config" / "alerts.yaml").write_text("rules:\n  - {name: up, kind: nope}\n")
    proc = NodeProcess(data, interval=1.0).start()
    try:
        with httpx.Client(base_url=proc.url, headers=headers) as c:
            shown = c.get("/api/v1/alerts").json()
            assert [a["id"] for a in shown["alerts"]] == [fired["id"]]
            assert shown["alerts"][0]["acked_by"] == "token:test"
            assert "is not valid" in shown["error"] and shown["rules"] == 0
            rules = c.get("/api/v1/alerts/rules").json()
            assert rules["errors"][0]["line"] == 2
    finally:
        proc.stop()
    assert "no alert rules are used" in proc.output
    assert Path(data / "state" / "runtime.json").read_text().count(fired["id"]) == 1
