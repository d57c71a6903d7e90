"""Command, webhook and pull actuators, the nginx file format, Weights and the config models.

The webhook posts to a real HTTP server on loopback; the command actuator runs real
programs (this Python interpreter with a small script).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from sentra.rollout.actuators import build_actuator
from sentra.rollout.actuators.base import Actuator, ActuatorError, Weights
from sentra.rollout.actuators.command import CommandActuator
from sentra.rollout.actuators.config import ActuatorConfig, NginxConfig
from sentra.rollout.actuators.nginx import NginxActuator, parse, render
from sentra.rollout.actuators.pull import PullActuator
from sentra.rollout.actuators.webhook import WebhookActuator

CONFIG: TypeAdapter[Any] = TypeAdapter(ActuatorConfig)
PY = sys.executable


def build(data: dict[str, Any], name: str = "checkout") -> Actuator:
    return build_actuator(CONFIG.validate_python(data), name=name)


# ---------------------------------------------------------------------- a loopback receiver


class Receiver(ThreadingHTTPServer):
    """Records every request; answers with the next status of ``statuses`` (then the last)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.requests: list[dict[str, Any]] = []
        self.statuses = [200]
        self.delay_s = 0.0
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def next_status(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        if self.server.delay_s:
            self.server.release.wait(self.server.delay_s)
        status = self.server.next_status()
        answer = b"nope" if status >= 400 else b"ok"
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    srv = Receiver()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


# ---------------------------------------------------------------------- Weights


def test_weights_must_add_up_to_100() -> None:
    with pytest.raises(ValueError, match="add up to 100"):
        Weights(stable=70, canary=20)
    with pytest.raises(ValueError, match="between 0 and 100"):
        Weights(stable=110, canary=-10)


def test_weights_from_relative_weights_round_and_sum_to_100() -> None:
    assert Weights.from_ratio(1, 1) == Weights(50, 50)
    assert Weights.from_ratio(2, 1) == Weights(stable=67, canary=33)
    assert Weights.from_ratio(1, 1, 1) == Weights(stable=34, canary=33, baseline=33)
    assert Weights.from_ratio(0, 0) is None


def test_weights_from_mapping_names_what_is_wrong() -> None:
    assert Weights.from_mapping({"stable": 70, "canary": 30}) == Weights(70, 30)
    with pytest.raises(ValueError, match="missing weight keys"):
        Weights.from_mapping({"stable": 70})
    with pytest.raises(ValueError, match="unknown weight keys"):
        Weights.from_mapping({"stable": 70, "canary": 30, "blue": 0})


# ---------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "haproxy", "backend": "b", "servers": {"stable": "s"}}, "canary"),
        (
            {
                "type": "haproxy",
                "backend": "b",
                "servers": {"stable": "s", "canary": "c"},
                "sockt": "/x",
            },
            "Extra inputs are not permitted",
        ),
        (
            {
                "type": "haproxy",
                "backend": "b",
                "servers": {"stable": "s", "canary": "c"},
                "socket": "localhost",
            },
            "neither a unix socket path nor host:port",
        ),
        ({"type": "command", "argv": ["switch.sh {canary} && reload"]}, "shell command line"),
        ({"type": "command", "argv": ["switch", "{cnary}"]}, "unknown placeholder {cnary}"),
        ({"type": "webhook", "url": "ftp://x"}, "http:// or https://"),
        (
            {"type": "webhook", "url": "http://x", "secret_env": "A", "secret_file": "/a"},
            "either secret_env or secret_file",
        ),
        (
            {
                "type": "nginx",
                "upstream_file": "/u",
                "servers": {"stable": "a:1", "canary": "b:1"},
                "reload_argv": ["nginx", "-s", "reload"],
                "pid_file": "/run/nginx.pid",
            },
            "either reload_argv or pid_file",
        ),
        (
            {
                "type": "nginx",
                "upstream_file": "/u",
                "servers": {"stable": "a:1; evil", "canary": "b:1"},
            },
            "not an nginx server address",
        ),
        (
            {"type": "kubernetes", "mode": "replicas", "targets": {"stable": "a", "canary": "b"}},
            "needs total_replicas",
        ),
        (
            {"type": "kubernetes", "mode": "httproute", "targets": {"stable": "a", "canary": "b"}},
            "needs route",
        ),
        ({"type": "envoy"}, "does not match any of the expected tags"),
    ],
)
def test_invalid_actuator_settings_fail_with_a_hint(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        CONFIG.validate_python(data)
    assert message in str(info.value)


def test_every_config_field_has_a_description() -> None:
    from sentra.rollout.actuators import config as module

    models = [
        getattr(module, name)
        for name in dir(module)
        if name.endswith(("Config", "Servers", "Targets"))
        and isinstance(getattr(module, name), type)
    ]
    assert len(models) >= 10
    missing = [
        f"{m.__name__}.{f}"
        for m in models
        for f, info in m.model_fields.items()
        if not info.description
    ]
    assert not missing


def test_the_factory_builds_the_actuator_of_each_type(tmp_path: Path) -> None:
    kinds = {
        "pull": {"type": "pull"},
        "command": {"type": "command", "argv": ["true"]},
        "webhook": {"type": "webhook", "url": "http://127.0.0.1:9/x"},
        "haproxy": {"type": "haproxy", "backend": "b", "servers": {"stable": "s", "canary": "c"}},
        "nginx": {
            "type": "nginx",
            "upstream_file": str(tmp_path / "u.conf"),
            "servers": {"stable": "127.0.0.1:1", "canary": "127.0.0.1:2"},
        },
        "kubernetes": {
            "type": "kubernetes",
            "mode": "replicas",
            "total_replicas": 10,
            "targets": {"stable": "a", "canary": "b"},
        },
    }

    async def run() -> None:
        for kind, data in kinds.items():
            act = build(data)
            assert isinstance(act, Actuator)
            assert act.kind == kind
            await act.close()

    asyncio.run(run())


# ---------------------------------------------------------------------- pull


def test_pull_records_the_weights_and_is_idempotent() -> None:
    act = build({"type": "pull"})
    assert isinstance(act, PullActuator)

    async def run() -> tuple[bool, bool, Weights | None]:
        first = await act.apply(Weights(70, 30))
        second = await act.apply(Weights(70, 30))
        return first.changed, second.changed, await act.read()

    assert asyncio.run(run()) == (True, False, Weights(70, 30))
    assert act.weights == Weights(70, 30)
    assert "/api/v1/rollouts/checkout/weights" in asyncio.run(act.apply(Weights(50, 50))).detail


def test_pull_starts_from_the_persisted_weights() -> None:
    act = PullActuator(name="checkout", initial=Weights(85, 15))
    assert asyncio.run(act.apply(Weights(85, 15))).changed is False


# ---------------------------------------------------------------------- command

RECORD = """
import json, os, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"argv": sys.argv[2:], "env": {k: v for k, v in os.environ.items()
                        if k.startswith("SENTRA_")}}) + "\\n")
"""


def test_command_gets_placeholders_and_environment(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    act = build(
        {
            "type": "command",
            "argv": [PY, "-c", RECORD, str(log), "--canary={canary}", "{stable}", "{rollout}"],
        }
    )
    result = asyncio.run(act.apply(Weights(stable=70, canary=30)))
    assert result.changed
    call = json.loads(log.read_text())
    assert call["argv"] == ["--canary=30", "70", "checkout"]
    assert call["env"] == {
        "SENTRA_ROLLOUT": "checkout",
        "SENTRA_WEIGHT_STABLE": "70",
        "SENTRA_WEIGHT_CANARY": "30",
        "SENTRA_WEIGHT_BASELINE": "0",
    }


def test_command_runs_once_for_the_same_weights(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    act = build({"type": "command", "argv": [PY, "-c", RECORD, str(log)]})

    async def run() -> list[bool]:
        return [(await act.apply(Weights(70, 30))).changed for _ in range(3)]

    assert asyncio.run(run()) == [True, False, False]
    assert len(log.read_text().splitlines()) == 1


def test_command_failure_is_retryable_and_carries_the_end_of_stderr() -> None:
    script = "import sys\nfor i in range(20): print('line', i, file=sys.stderr)\nsys.exit(3)"
    act = build({"type": "command", "argv": [PY, "-c", script]})
    with pytest.raises(ActuatorError) as info:
        asyncio.run(act.apply(Weights(70, 30)))
    assert info.value.retryable is True
    assert "exited with 3" in str(info.value)
    assert "line 19" in str(info.value) and "line 14" not in str(info.value)


def test_command_that_outlives_its_timeout_is_killed() -> None:
    act = build(
        {"type": "command", "argv": [PY, "-c", "import time; time.sleep(30)"], "timeout_s": 0.3}
    )

    async def run() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ActuatorError) as info:
            await act.apply(Weights(70, 30))
        assert info.value.retryable is True
        assert "timed out" in str(info.value)
        return loop.time() - started

    assert asyncio.run(run()) < 5


def test_command_program_that_does_not_exist_is_not_retryable(tmp_path: Path) -> None:
    act = build({"type": "command", "argv": [str(tmp_path / "no-such-program")]})
    with pytest.raises(ActuatorError) as info:
        asyncio.run(act.apply(Weights(70, 30)))
    assert info.value.retryable is False
    assert "no-such-program" in str(info.value)


def test_command_read_argv_makes_apply_idempotent_against_the_real_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"stable": 70, "canary": 30}))
    write = (
        "import json, sys; open(sys.argv[1], 'w').write(json.dumps("
        "{'stable': int(sys.argv[2]), 'canary': int(sys.argv[3])}))"
    )
    act = build(
        {
            "type": "command",
            "argv": [PY, "-c", write, str(state), "{stable}", "{canary}"],
            "read_argv": [PY, "-c", "import sys; print(open(sys.argv[1]).read())", str(state)],
        }
    )
    assert isinstance(act, CommandActuator)

    async def run() -> tuple[bool, bool, Weights | None]:
        same = await act.apply(Weights(70, 30))
        moved = await act.apply(Weights(50, 50))
        return same.changed, moved.changed, await act.read()

    assert asyncio.run(run()) == (False, True, Weights(50, 50))


def test_command_read_argv_that_prints_garbage_is_not_retryable() -> None:
    act = build({"type": "command", "argv": ["true"], "read_argv": [PY, "-c", "print('hi')"]})
    with pytest.raises(ActuatorError) as info:
        asyncio.run(act.read())
    assert info.value.retryable is False
    assert "must print JSON weights" in str(info.value)


# ---------------------------------------------------------------------- webhook


def test_webhook_posts_the_weights_signed_with_the_secret(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRA_TEST_SECRET", "s3cret")
    config = CONFIG.validate_python(
        {
            "type": "webhook",
            "url": receiver.url,
            "headers": {"Authorization": "Bearer t"},
            "secret_env": "SENTRA_TEST_SECRET",
        }
    )
    act = WebhookActuator(config, name="checkout", clock=lambda: 1714552800.0)

    async def run() -> list[bool]:
        try:
            return [(await act.apply(Weights(70, 30))).changed for _ in range(2)]
        finally:
            await act.close()

    assert asyncio.run(run()) == [True, False]
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert json.loads(request["body"]) == {
        "rollout": "checkout",
        "weights": {"stable": 70, "canary": 30, "baseline": 0},
        "ts": 1714552800.0,
    }
    assert request["headers"]["Authorization"] == "Bearer t"
    expected = hmac.new(b"s3cret", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Sentra-Signature"] == f"sha256={expected}"


@pytest.mark.parametrize(
    ("status", "retryable"), [(503, True), (429, True), (400, False), (404, False)]
)
def test_webhook_5xx_is_retryable_and_4xx_is_not(
    receiver: Receiver, status: int, retryable: bool
) -> None:
    receiver.statuses = [status]
    act = build({"type": "webhook", "url": receiver.url})

    async def run() -> ActuatorError:
        try:
            with pytest.raises(ActuatorError) as info:
                await act.apply(Weights(70, 30))
            return info.value
        finally:
            await act.close()

    error = asyncio.run(run())
    assert error.retryable is retryable
    assert str(status) in str(error)


def test_webhook_failure_then_success_posts_again(receiver: Receiver) -> None:
    receiver.statuses = [502, 200]
    act = build({"type": "webhook", "url": receiver.url})

    async def run() -> bool:
        try:
            with pytest.raises(ActuatorError):
                await act.apply(Weights(70, 30))
            return (await act.apply(Weights(70, 30))).changed
        finally:
            await act.close()

    assert asyncio.run(run()) is True
    assert len(receiver.requests) == 2


def test_webhook_nobody_listening_is_retryable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    act = build({"type": "webhook", "url": f"http://127.0.0.1:{port}/x", "timeout_s": 2})

    async def run() -> ActuatorError:
        try:
            with pytest.raises(ActuatorError) as info:
                await act.apply(Weights(70, 30))
            return info.value
        finally:
            await act.close()

    error = asyncio.run(run())
    assert error.retryable is True and "cannot reach" in str(error)


def test_webhook_slower_than_its_timeout_is_retryable(receiver: Receiver) -> None:
    receiver.delay_s = 5
    act = build({"type": "webhook", "url": receiver.url, "timeout_s": 0.2})

    async def run() -> ActuatorError:
        try:
            with pytest.raises(ActuatorError) as info:
                await act.apply(Weights(70, 30))
            return info.value
        finally:
            await act.close()

    error = asyncio.run(run())
    assert error.retryable is True and "did not answer within 0.2 s" in str(error)


# ---------------------------------------------------------------------- nginx (file and logic)


def nginx_config(tmp_path: Path, **changes: Any) -> NginxConfig:
    data: dict[str, Any] = {
        "type": "nginx",
        "upstream_file": str(tmp_path / "up.conf"),
        "servers": {"stable": "10.0.0.1:80", "canary": "10.0.0.2:80", "baseline": "10.0.0.3:80"},
        "server_params": ["max_fails=3"],
        "test_argv": ["true"],
        "reload_argv": ["true"],
    }
    data.update(changes)
    return NginxConfig.model_validate(data)


def test_nginx_file_marks_a_zero_weight_server_down_and_reads_back(tmp_path: Path) -> None:
    config = nginx_config(tmp_path)
    text = render(config, Weights(stable=100, canary=0), rollout="checkout")
    assert "server 10.0.0.1:80 weight=100 max_fails=3;" in text
    assert "server 10.0.0.2:80 down max_fails=3;" in text
    assert "weight=0" not in text
    assert parse(config, text) == Weights(stable=100, canary=0)
    three = render(config, Weights(stable=40, canary=30, baseline=30), rollout="checkout")
    assert parse(config, three) == Weights(stable=40, canary=30, baseline=30)


def test_nginx_failed_reload_is_retryable_and_the_next_apply_reloads(tmp_path: Path) -> None:
    flag = tmp_path / "fail-once"
    flag.write_text("")
    reload = [
        PY,
        "-c",
        "import os, sys; p = sys.argv[1]; "
        "(os.remove(p), sys.exit('reload refused')) if os.path.exists(p) else None",
        str(flag),
    ]
    act = NginxActuator(nginx_config(tmp_path, reload_argv=reload), name="checkout")

    async def run() -> tuple[bool, bool]:
        with pytest.raises(ActuatorError) as info:
            await act.apply(Weights(70, 30))
        assert info.value.retryable is True and "reload refused" in str(info.value)
        again = await act.apply(Weights(70, 30))  # file already written: only reloads
        third = await act.apply(Weights(70, 30))
        return again.changed, third.changed

    assert asyncio.run(run()) == (True, False)


# ---------------------------------------------------------------------- docs


DOCS = Path(__file__).resolve().parents[2] / "docs" / "actuators.md"


def _yaml_blocks() -> list[dict[str, Any]]:
    import re

    import yaml

    text = DOCS.read_text(encoding="utf-8")
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def test_every_yaml_example_in_the_docs_validates() -> None:
    from sentra.rollout.actuators.config import HookConfig, NotifyConfig

    blocks = _yaml_blocks()
    actuators = [b["actuator"] for b in blocks if "actuator" in b]
    assert {a["type"] for a in actuators} == {
        "haproxy",
        "nginx",
        "pull",
        "command",
        "webhook",
        "kubernetes",
    }
    for data in actuators:
        CONFIG.validate_python(data)
    hooks = [h for b in blocks for hs in b.get("hooks", {}).values() for h in hs]
    notifications = [n for b in blocks for n in b.get("notifications", [])]
    assert hooks and notifications
    for hook in hooks:
        HookConfig.model_validate(hook)
    for notify in notifications:
        NotifyConfig.model_validate(notify)


def test_every_setting_is_in_the_docs() -> None:
    from sentra.rollout.actuators import config as module

    text = DOCS.read_text(encoding="utf-8")
    models = [
        module.HaproxyConfig,
        module.NginxConfig,
        module.CommandConfig,
        module.WebhookConfig,
        module.KubernetesConfig,
        module.HookConfig,
        module.NotifyConfig,
    ]
    missing = [
        f"{m.__name__}.{f}"
        for m in models
        for f in m.model_fields
        if f != "type" and f"`{f}`" not in text and f"`{f}." not in text
    ]
    assert not missing, f"document these in docs/actuators.md: {missing}"
