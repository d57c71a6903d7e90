"""The Kubernetes actuator against recorded API responses (there is no cluster here).

``FakeKubeApi`` is a real HTTP server on loopback that serves the hand-written recordings of
``tests/fixtures/kubernetes`` (see its README), checks the bearer token, applies JSON merge
patches (RFC 7386) with the API server's ``resourceVersion`` precondition, and records every
request so the tests can assert the exact PATCH bodies.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sentra.rollout.actuators import build_actuator
from sentra.rollout.actuators.base import ActuatorError, Weights
from sentra.rollout.actuators.config import KubernetesConfig
from sentra.rollout.actuators.kubernetes import (
    KubernetesActuator,
    parse_scale,
    replica_split,
    route_weights,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kubernetes"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.sentra-test-token"
SCALE = "/apis/apps/v1/namespaces/shop/deployments/{}/scale"
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/checkout"


def recording(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies ``application/merge-patch+json``."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeKubeApi(ThreadingHTTPServer):
    """Serves the recordings; records requests; PATCH changes the served objects."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _KubeHandler)
        self.objects: dict[str, Any] = {
            SCALE.format("checkout-stable"): recording("scale-checkout-stable.json"),
            SCALE.format("checkout-canary"): recording("scale-checkout-canary.json"),
            ROUTE: recording("httproute-checkout.json"),
        }
        self.requests: list[dict[str, Any]] = []
        self.forbidden: set[str] = set()  # paths whose PATCH RBAC refuses
        self.concurrent_edits = 0  # PATCHes preceded by someone else's edit
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def patches(self) -> list[tuple[str, Any]]:
        return [(r["path"], r["body"]) for r in self.requests if r["method"] == "PATCH"]

    def handle_request_(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        body = json.loads(raw) if raw else None
        with self.lock:
            self.requests.append(
                {"method": method, "path": path, "headers": dict(headers), "body": body}
            )
            if headers.get("Authorization") != f"Bearer {TOKEN}":
                return 401, recording("status-401-unauthorized.json")
            if path not in self.objects:
                return 404, _not_found(path)
            obj = self.objects[path]
            if method == "GET":
                return 200, obj
            if headers.get("Content-Type") != "application/merge-patch+json":
                return 415, {"kind": "Status", "code": 415, "message": "unsupported media type"}
            if path in self.forbidden:
                return 403, recording("status-403-forbidden.json")
            if self.concurrent_edits:
                self.concurrent_edits -= 1
                _bump(obj)
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != obj["metadata"]["resourceVersion"]:
                return 409, recording("status-409-conflict.json")
            new = merge_patch(obj, body)
            _bump(new)
            if new.get("kind") == "Scale":
                new["status"]["replicas"] = new["spec"].get("replicas", 0)
            self.objects[path] = new
            return 200, new


def _bump(obj: dict[str, Any]) -> None:
    obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)


def _not_found(path: str) -> Any:
    status = recording("status-404-notfound.json")
    name = path.rstrip("/").split("/")[-2 if path.endswith("/scale") else -1]
    status["message"] = status["message"].replace("checkout-canry", name)
    status["details"]["name"] = name
    return status


class _KubeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeKubeApi

    def _answer(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = self.server.handle_request_(method, self.path, self.headers, raw)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    srv = FakeKubeApi()
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def sa_dir(tmp_path: Path) -> Path:
    """A service-account folder as a pod has it: token and namespace."""
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "namespace").write_text("shop")
    return tmp_path


def actuator(api_url: str, sa: Path, **changes: Any) -> KubernetesActuator:
    data: dict[str, Any] = {
        "type": "kubernetes",
        "mode": "replicas",
        "total_replicas": 10,
        "targets": {"stable": "checkout-stable", "canary": "checkout-canary"},
        "api_url": api_url,
        "token_file": str(sa / "token"),
        "timeout_s": 2,
    }
    data.update(changes)
    built = build_actuator(KubernetesConfig.model_validate(data), name="checkout")
    assert isinstance(built, KubernetesActuator)
    return built


def route_actuator(api_url: str, sa: Path, **changes: Any) -> KubernetesActuator:
    data: dict[str, Any] = {
        "mode": "httproute",
        "total_replicas": None,
        "route": "checkout",
        "targets": {"stable": "checkout-stable", "canary": "checkout-canary"},
    }
    data.update(changes)
    return actuator(api_url, sa, **data)


def run(act: KubernetesActuator, *calls: Weights | None) -> list[Any]:
    """Apply each weight (None: read) in order on one loop; close the actuator."""

    async def go() -> list[Any]:
        out: list[Any] = []
        try:
            for w in calls:
                out.append(await act.read() if w is None else await act.apply(w))
        finally:
            await act.close()
        return out

    return asyncio.run(go())


def failure(act: KubernetesActuator, weights: Weights) -> ActuatorError:
    async def go() -> ActuatorError:
        try:
            with pytest.raises(ActuatorError) as info:
                await act.apply(weights)
            return info.value
        finally:
            await act.close()

    return asyncio.run(go())


# ---------------------------------------------------------------------- contract


def test_recorded_responses_parse_with_the_actuator_code() -> None:
    assert parse_scale(recording("scale-checkout-stable.json")) == 10
    assert parse_scale(recording("scale-checkout-canary.json")) == 0  # replicas omitted at 0
    route = recording("httproute-checkout.json")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    backends = {"stable": "checkout-stable", "canary": "checkout-canary"}
    assert route_weights(route, 0, backends) == {"stable": 100, "canary": 0}
    assert route_weights(route, 1, {"stable": "storefront", "canary": "storefront"}) == {
        "stable": 1,
        "canary": 1,
    }
    for name in FIXTURES.glob("status-*.json"):
        status = json.loads(name.read_text())
        assert status["kind"] == "Status" and status["apiVersion"] == "v1"
        assert str(status["code"]) in name.name
    with pytest.raises(ValueError, match="expected an autoscaling/v1 Scale"):
        parse_scale(route)


# ---------------------------------------------------------------------- replicas mode


@pytest.mark.parametrize(
    ("total", "canary", "expected"),
    [
        (10, 30, {"stable": 7, "canary": 3, "baseline": 0}),
        (10, 5, {"stable": 9, "canary": 1, "baseline": 0}),  # 0.5 rounds up
        (4, 5, {"stable": 3, "canary": 1, "baseline": 0}),  # at least 1 when w > 0
        (10, 0, {"stable": 10, "canary": 0, "baseline": 0}),
        (10, 100, {"stable": 0, "canary": 10, "baseline": 0}),
        (1, 50, {"stable": 1, "canary": 1, "baseline": 0}),  # tiny N: total exceeds N by one
    ],
)
def test_replica_split_gives_the_canary_its_rounded_share(
    total: int, canary: int, expected: dict[str, int]
) -> None:
    assert replica_split(total, Weights.for_canary(canary)) == expected


def test_replica_split_with_a_baseline() -> None:
    assert replica_split(10, Weights.for_canary(20, baseline=20)) == {
        "stable": 6,
        "canary": 2,
        "baseline": 2,
    }


def test_replicas_mode_scales_the_canary_up_before_the_stable_down(
    api: FakeKubeApi, sa_dir: Path
) -> None:
    (result,) = run(actuator(api.url, sa_dir), Weights.for_canary(30))
    assert result.changed
    assert "checkout-stable=7" in result.detail and "checkout-canary=3" in result.detail
    assert api.patches == [
        (SCALE.format("checkout-canary"), {"spec": {"replicas": 3}}),
        (SCALE.format("checkout-stable"), {"spec": {"replicas": 7}}),
    ]
    patch = next(r for r in api.requests if r["method"] == "PATCH")
    assert patch["headers"]["Content-Type"] == "application/merge-patch+json"
    assert patch["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_replicas_mode_rollback_grows_stable_first(api: FakeKubeApi, sa_dir: Path) -> None:
    run(actuator(api.url, sa_dir), Weights.for_canary(30), Weights.for_canary(0))
    assert api.patches[2:] == [
        (SCALE.format("checkout-stable"), {"spec": {"replicas": 10}}),
        (SCALE.format("checkout-canary"), {"spec": {"replicas": 0}}),
    ]


def test_replicas_mode_applying_the_same_step_twice_patches_once(
    api: FakeKubeApi, sa_dir: Path
) -> None:
    first, second, read = run(
        actuator(api.url, sa_dir), Weights.for_canary(30), Weights.for_canary(30), None
    )
    assert (first.changed, second.changed) == (True, False)
    assert len(api.patches) == 2
    assert read == Weights(stable=70, canary=30)


def test_replicas_mode_reads_the_recorded_scale_as_all_stable(
    api: FakeKubeApi, sa_dir: Path
) -> None:
    assert run(actuator(api.url, sa_dir), None) == [Weights(stable=100, canary=0)]


def test_missing_deployment_is_not_retryable_and_names_it(api: FakeKubeApi, sa_dir: Path) -> None:
    act = actuator(api.url, sa_dir, targets={"stable": "checkout-stable", "canary": "checkout-x"})
    error = failure(act, Weights.for_canary(30))
    assert error.retryable is False
    assert '"checkout-x" not found' in str(error) and "404" in str(error)
    assert api.patches == []


def test_rbac_refusal_is_not_retryable_and_says_what_is_missing(
    api: FakeKubeApi, sa_dir: Path
) -> None:
    api.forbidden.add(SCALE.format("checkout-canary"))
    error = failure(actuator(api.url, sa_dir), Weights.for_canary(30))
    assert error.retryable is False
    assert "cannot patch resource" in str(error) and "RBAC" in str(error)


def test_rejected_token_is_not_retryable(api: FakeKubeApi, sa_dir: Path) -> None:
    (sa_dir / "token").write_text("expired")
    error = failure(actuator(api.url, sa_dir), Weights.for_canary(30))
    assert error.retryable is False and "401" in str(error)


def test_the_token_file_is_read_again_on_every_call(api: FakeKubeApi, sa_dir: Path) -> None:
    (sa_dir / "token").write_text("old-token")
    act = actuator(api.url, sa_dir)

    async def go() -> Weights | None:
        try:
            with pytest.raises(ActuatorError):
                await act.read()
            (sa_dir / "token").write_text(TOKEN)  # the kubelet rotated it
            return await act.read()
        finally:
            await act.close()

    assert asyncio.run(go()) == Weights(stable=100, canary=0)


def test_namespace_comes_from_the_settings_before_the_service_account(
    api: FakeKubeApi, sa_dir: Path
) -> None:
    error = failure(actuator(api.url, sa_dir, namespace="other"), Weights.for_canary(30))
    assert "/namespaces/other/" in str(error)


def test_api_server_that_is_down_is_retryable(sa_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error = failure(actuator(f"http://127.0.0.1:{port}", sa_dir), Weights.for_canary(30))
    assert error.retryable is True and "cannot reach the API server" in str(error)


def test_missing_token_file_outside_a_cluster_says_how_to_fix_it(tmp_path: Path) -> None:
    act = actuator("http://127.0.0.1:9", tmp_path, namespace="shop")
    error = failure(act, Weights.for_canary(30))
    assert error.retryable is False and "set token_file" in str(error)


# ---------------------------------------------------------------------- httproute mode


def test_httproute_mode_patches_only_the_weights_with_the_resource_version(
    api: FakeKubeApi, sa_dir: Path
) -> None:
    original = recording("httproute-checkout.json")
    result, read = run(route_actuator(api.url, sa_dir), Weights.for_canary(30), None)
    assert result.changed and read == Weights(stable=70, canary=30)
    ((path, body),) = api.patches
    assert path == ROUTE
    assert body["metadata"] == {"resourceVersion": original["metadata"]["resourceVersion"]}
    expected = copy.deepcopy(original["spec"]["rules"])
    expected[0]["backendRefs"][0]["weight"] = 70
    expected[0]["backendRefs"][1]["weight"] = 30
    assert body["spec"] == {"rules": expected}  # the other rule and every other field as read
    served = api.objects[ROUTE]
    assert served["spec"]["hostnames"] == original["spec"]["hostnames"]
    assert served["spec"]["parentRefs"] == original["spec"]["parentRefs"]


def test_httproute_mode_same_weights_twice_patches_once(api: FakeKubeApi, sa_dir: Path) -> None:
    first, second = run(route_actuator(api.url, sa_dir), Weights(70, 30), Weights(70, 30))
    assert (first.changed, second.changed) == (True, False)
    assert len(api.patches) == 1


def test_httproute_mode_reads_again_after_a_concurrent_edit(api: FakeKubeApi, sa_dir: Path) -> None:
    api.concurrent_edits = 1
    (result,) = run(route_actuator(api.url, sa_dir), Weights(70, 30))
    assert result.changed
    versions = [body["metadata"]["resourceVersion"] for _path, body in api.patches]
    assert versions == ["482113", "482114"]  # the first was stale (409), the second current
    weights = [ref["weight"] for ref in api.objects[ROUTE]["spec"]["rules"][0]["backendRefs"]]
    assert weights == [70, 30]


def test_httproute_mode_unknown_backend_is_not_retryable_and_lists_the_refs(
    api: FakeKubeApi, sa_dir: Path
) -> None:
    act = route_actuator(api.url, sa_dir, targets={"stable": "checkout-stable", "canary": "cx"})
    error = failure(act, Weights(70, 30))
    assert error.retryable is False
    assert "no backendRef named 'cx'" in str(error) and "checkout-canary" in str(error)


def test_httproute_mode_rule_out_of_range_is_not_retryable(api: FakeKubeApi, sa_dir: Path) -> None:
    error = failure(route_actuator(api.url, sa_dir, rule=5), Weights(70, 30))
    assert error.retryable is False and "there is no rule 5" in str(error)
