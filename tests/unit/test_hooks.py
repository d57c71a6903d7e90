"""Rollout hooks and notifications against real programs and a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sentra.rollout.actuators.config import HookConfig, NotifyConfig
from sentra.rollout.hooks import Notifier, render_slack, run_hooks

PY = sys.executable
CONTEXT = {"rollout": "checkout", "step_index": 2, "weights": {"stable": 70, "canary": 30}}
DECISION = {
    "rollout": "checkout",
    "kind": "rolled_back",
    "from_phase": "progressing",
    "to_phase": "rolled_back",
    "step_index": 2,
    "weights": {"stable": 100, "canary": 0, "baseline": 0},
    "actor": "controller",
    "reason": "error_rate breached twice in a row: 2.1% > 0.5% <p95>",
}


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.statuses = [200]
        self.delay_s = 0.0
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/notify"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv = self.server
        srv.requests.append({"headers": dict(self.headers), "json": json.loads(body)})
        if srv.delay_s:
            srv.release.wait(srv.delay_s)
        status = srv.statuses.pop(0) if len(srv.statuses) > 1 else srv.statuses[0]
        try:
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    srv = Receiver()
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@dataclass
class Hooks:
    """The shape of the spec's ``hooks:`` block."""

    pre_rollout: list[HookConfig] = field(default_factory=list)
    pre_promote: list[HookConfig] = field(default_factory=list)
    post_promote: list[HookConfig] = field(default_factory=list)
    on_rollback: list[HookConfig] = field(default_factory=list)


def command(script: str, *args: str, **settings: Any) -> HookConfig:
    return HookConfig.model_validate({"command": [PY, "-c", script, *args], **settings})


RECORD = (
    "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps({'stdin': sys.stdin.read(), "
    "'env': {k: v for k, v in os.environ.items() if k.startswith('SENTRA_')}}))"
)


# ---------------------------------------------------------------------- hooks


def test_command_hook_gets_the_context_on_stdin_and_in_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    hooks = Hooks(pre_rollout=[command(RECORD, str(out))])
    outcome = asyncio.run(run_hooks(hooks, "pre_rollout", CONTEXT))
    assert outcome.ok and not outcome.aborted
    seen = json.loads(out.read_text())
    assert json.loads(seen["stdin"]) == CONTEXT
    assert seen["env"]["SENTRA_HOOK_POINT"] == "pre_rollout"
    assert seen["env"]["SENTRA_ROLLOUT"] == "checkout"
    assert json.loads(seen["env"]["SENTRA_CONTEXT"]) == CONTEXT


def test_failing_pre_hook_aborts_and_later_hooks_do_not_run(tmp_path: Path) -> None:
    out = tmp_path / "second.json"
    fail = command("import sys; print('smoke test failed', file=sys.stderr); sys.exit(1)")
    hooks = Hooks(pre_promote=[fail, command(RECORD, str(out))])
    outcome = asyncio.run(run_hooks(hooks, "pre_promote", CONTEXT))
    assert outcome.aborted and not outcome.ok
    assert len(outcome.results) == 1
    assert "smoke test failed" in outcome.reason
    assert not out.exists()


def test_failing_pre_hook_marked_ignore_lets_the_rest_run(tmp_path: Path) -> None:
    out = tmp_path / "second.json"
    fail = command("import sys; sys.exit(2)", on_failure="ignore", name="optional check")
    outcome = asyncio.run(run_hooks([fail, command(RECORD, str(out))], "pre_rollout", CONTEXT))
    assert not outcome.aborted and not outcome.ok
    assert [r.ok for r in outcome.results] == [False, True]
    assert outcome.reason.startswith("optional check: ")
    assert out.exists()


def test_failure_after_a_rollback_is_recorded_but_cannot_abort() -> None:
    hooks = Hooks(on_rollback=[command("import sys; sys.exit(1)", on_failure="abort")])
    outcome = asyncio.run(run_hooks(hooks, "on_rollback", CONTEXT))
    assert not outcome.ok and not outcome.aborted


def test_hook_that_outlives_its_timeout_is_killed_and_fails() -> None:
    hook = command("import time; time.sleep(30)", timeout_s=0.3)
    started = time.monotonic()
    outcome = asyncio.run(run_hooks([hook], "pre_rollout", CONTEXT))
    assert time.monotonic() - started < 5
    assert outcome.aborted and "timed out" in outcome.reason


def test_webhook_hook_posts_point_and_context(receiver: Receiver) -> None:
    hook = HookConfig.model_validate({"webhook": receiver.url, "headers": {"X-Token": "t"}})
    outcome = asyncio.run(run_hooks([hook], "post_promote", CONTEXT))
    assert outcome.ok
    (request,) = receiver.requests
    assert request["json"]["point"] == "post_promote"
    assert request["json"]["context"] == CONTEXT
    assert isinstance(request["json"]["ts"], float)
    assert request["headers"]["X-Token"] == "t"


def test_webhook_hook_answering_500_fails_a_pre_hook(receiver: Receiver) -> None:
    receiver.statuses = [500]
    hook = HookConfig.model_validate({"webhook": receiver.url})
    outcome = asyncio.run(run_hooks([hook], "pre_rollout", CONTEXT))
    assert outcome.aborted and "answered 500" in outcome.reason


def test_no_hooks_at_a_point_is_an_empty_success() -> None:
    outcome = asyncio.run(run_hooks(Hooks(), "pre_promote", CONTEXT))
    assert outcome.ok and outcome.results == () and not outcome.aborted


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"command": ["a"], "webhook": "http://x"}, "either 'command'"),
        ({}, "either 'command'"),
        ({"command": "notify.sh --all"}, "valid list"),
        ({"command": ["notify.sh --all"]}, "shell command line"),
        ({"webhook": "http://x", "on_failure": "retry"}, "'abort' or 'ignore'"),
        ({"command": ["a"], "headers": {"A": "b"}}, "only used by webhook hooks"),
    ],
)
def test_invalid_hook_settings_fail_with_a_hint(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        HookConfig.model_validate(data)
    assert message in str(info.value)


# ---------------------------------------------------------------------- notifications


def notifier(url: str, sleeps: list[float] | None = None, **settings: Any) -> Notifier:
    async def fake_sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return Notifier(NotifyConfig.model_validate({"webhook": url, **settings}), sleep=fake_sleep)


def send(n: Notifier, decision: dict[str, Any]) -> bool:
    async def go() -> bool:
        try:
            return await n.send(decision)
        finally:
            await n.close()

    return asyncio.run(go())


def test_slack_notification_has_text_and_blocks(receiver: Receiver) -> None:
    n = notifier(receiver.url, format="slack")
    assert send(n, DECISION) is True
    payload = receiver.requests[0]["json"]
    assert payload["text"].startswith("checkout: rolled_back - error_rate breached")
    section, context = payload["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert ":rotating_light: *checkout* rolled_back" in section["text"]["text"]
    assert "&lt;p95&gt;" in section["text"]["text"]  # Slack control characters escaped
    assert "canary 0%" in context["elements"][0]["text"]
    assert n.sent == 1 and n.failed == 0


def test_json_notification_carries_the_decision(receiver: Receiver) -> None:
    assert send(notifier(receiver.url), DECISION) is True
    payload = receiver.requests[0]["json"]
    assert payload["event"] == "decision" and payload["decision"] == DECISION


def test_only_the_configured_events_are_sent(receiver: Receiver) -> None:
    n = notifier(receiver.url, events=["promoted"])
    assert send(n, DECISION) is False
    assert receiver.requests == [] and n.skipped == 1


def test_5xx_is_retried_with_back_off_then_delivered(receiver: Receiver) -> None:
    receiver.statuses = [503, 502, 200]
    sleeps: list[float] = []
    n = notifier(receiver.url, sleeps, retries=2, backoff_s=0.5)
    assert send(n, DECISION) is True
    assert len(receiver.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_4xx_is_not_retried_and_counts_a_failure(receiver: Receiver) -> None:
    receiver.statuses = [404]
    n = notifier(receiver.url, [], retries=2)
    assert send(n, DECISION) is False
    assert len(receiver.requests) == 1
    assert n.failed == 1 and "404" in n.last_error


def test_dead_target_never_raises_and_gives_up_after_the_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    n = notifier(f"http://127.0.0.1:{port}/x", sleeps, retries=2)
    assert send(n, DECISION) is False
    assert n.failed == 1 and "after 3 attempts" in n.last_error
    assert len(sleeps) == 2


def test_slow_target_is_bounded_by_the_timeouts(receiver: Receiver) -> None:
    receiver.delay_s = 10
    n = notifier(receiver.url, [], retries=1, timeout_s=0.2)
    started = time.monotonic()
    assert send(n, DECISION) is False
    assert time.monotonic() - started < 3
    assert n.failed == 1


def test_slack_payload_of_a_sparse_decision_still_renders() -> None:
    payload = render_slack({"kind": "note"})
    assert payload["text"] == "rollout: note"
    assert len(payload["blocks"]) == 1
