"""Actuator settings as pydantic models: the ``actuator:`` key of a rollout spec.

Pure on purpose (pydantic only, no I/O): the rollout spec module imports these to validate a
spec with line-numbered errors before anything moves. Files named here (sockets, token files)
are only checked when the actuator runs, not when the spec is read.

Every model forbids unknown keys, so a misspelt setting fails validation instead of being
ignored. ``ActuatorConfig`` is the discriminated union over ``type``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PLACEHOLDERS = frozenset({"stable", "canary", "baseline", "rollout"})
_NGINX_PARAM = re.compile(r"^[a-z_]+(=[A-Za-z0-9._:]+)?$")
_NGINX_ADDRESS = re.compile(r"^(unix:/[^\s;{}]+|[A-Za-z0-9._\-\[\]:]+)$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_http_url(value: str) -> str:
    """An absolute http(s) URL; shared by the webhook actuator, hooks and notifications."""
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value


def check_headers(value: dict[str, str]) -> dict[str, str]:
    for name, val in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"invalid HTTP header name {name!r}")
        if "\n" in val or "\r" in val:
            raise ValueError(f"header {name!r} has a line break in its value")
    return value


def check_argv(value: list[str]) -> list[str]:
    """An argv list: a program and its arguments, never one shell string."""
    if not value or not value[0].strip():
        raise ValueError("must name a program: a list like ['/usr/local/bin/switch', '{canary}']")
    if len(value) == 1 and " " in value[0].strip():
        raise ValueError(
            f"{value[0]!r} looks like a shell command line; give a list of arguments instead "
            f"(commands never run through a shell)"
        )
    return value


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_placeholders(value: list[str]) -> list[str]:
    """Only ``{stable}``, ``{canary}``, ``{baseline}`` and ``{rollout}`` may appear.

    Other braces (a JSON argument, a Python script) are left as they are; only a brace pair
    around a bare word counts as a placeholder, so a misspelt ``{cnary}`` is caught here.
    """
    for arg in value:
        unknown = [f for f in PLACEHOLDER.findall(arg) if f not in PLACEHOLDERS]
        if unknown:
            raise ValueError(
                f"argument {arg!r} uses unknown placeholder {{{unknown[0]}}}; "
                f"known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}"
            )
    return value


def fill_placeholders(arg: str, values: dict[str, str]) -> str:
    """``arg`` with each known ``{name}`` replaced by ``values[name]`` (missing: empty)."""
    return PLACEHOLDER.sub(lambda m: values.get(m[1], "") if m[1] in PLACEHOLDERS else m[0], arg)


class HaproxyServers(_Model):
    """Server names inside the HAProxy backend, one per variant."""

    stable: str = Field(description="Server that runs the stable version.", min_length=1)
    canary: str = Field(description="Server that runs the canary version.", min_length=1)
    baseline: str | None = Field(
        default=None, description="Optional server that runs a fresh copy of stable (baseline)."
    )


class HaproxyConfig(_Model):
    """HAProxy runtime API: ``set server <backend>/<server> weight <w>``."""

    type: Literal["haproxy"] = Field(description="Selects the HAProxy actuator.")
    socket: str = Field(
        default="/run/haproxy/admin.sock",
        description="Runtime API address: a unix socket path, or host:port of a TCP stats socket.",
    )
    backend: str = Field(description="Backend that holds the servers.", min_length=1)
    servers: HaproxyServers = Field(description="Server names for stable, canary and baseline.")
    timeout_s: float = Field(default=2.0, gt=0, description="Timeout of one runtime API call.")

    @field_validator("socket")
    @classmethod
    def _socket(cls, value: str) -> str:
        if value.startswith(("/", ".", "unix:")):
            return value
        host, _, port = value.removeprefix("tcp://").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is neither a unix socket path nor host:port")
        return value


class NginxServers(_Model):
    """Upstream server addresses, one per variant, as nginx writes them (host:port or unix:)."""

    stable: str = Field(description="Address of the stable servers (host:port or unix:/path).")
    canary: str = Field(description="Address of the canary servers.")
    baseline: str | None = Field(default=None, description="Optional address of a baseline.")

    @field_validator("stable", "canary", "baseline")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _NGINX_ADDRESS.match(value):
            raise ValueError(f"{value!r} is not an nginx server address (host:port or unix:/path)")
        return value


class NginxConfig(_Model):
    """nginx: write the weighted ``server`` lines of an upstream, test the config, reload."""

    type: Literal["nginx"] = Field(description="Selects the nginx actuator.")
    upstream_file: str = Field(
        description="File Sentra writes (atomically) with the upstream's server lines; include "
        "it inside your upstream block.",
        min_length=1,
    )
    servers: NginxServers = Field(description="Server addresses for stable, canary and baseline.")
    server_params: list[str] = Field(
        default_factory=list,
        description="Extra parameters for every server line, e.g. ['max_fails=3'].",
    )
    test_argv: list[str] = Field(
        default_factory=lambda: ["nginx", "-t"],
        description="Command that checks the configuration before reload; [] skips the check.",
    )
    reload_argv: list[str] = Field(
        default_factory=lambda: ["nginx", "-s", "reload"],
        description="Command that reloads nginx (not used when pid_file is set).",
    )
    pid_file: str | None = Field(
        default=None, description="Reload by sending SIGHUP to the pid in this file instead."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of the test and reload.")

    @field_validator("server_params")
    @classmethod
    def _params(cls, value: list[str]) -> list[str]:
        for param in value:
            if not _NGINX_PARAM.match(param) or param.startswith(("weight", "down")):
                raise ValueError(f"{param!r} is not a server parameter Sentra can add")
        return value

    @field_validator("test_argv")
    @classmethod
    def _test(cls, value: list[str]) -> list[str]:
        return check_argv(value) if value else value

    @field_validator("reload_argv")
    @classmethod
    def _reload(cls, value: list[str]) -> list[str]:
        return check_argv(value)

    @model_validator(mode="after")
    def _one_reload(self) -> NginxConfig:
        if self.pid_file is not None and "reload_argv" in self.model_fields_set:
            raise ValueError("set either reload_argv or pid_file, not both")
        return self


class ExternalConfig(_Model):
    """External: another deployer (Argo Rollouts, Flagger) moves the traffic and asks Sentra
    for a verdict (``GET /api/v1/rollouts/{name}/verdict``); Sentra never moves weights and
    keeps judging until the rollout is promoted or aborted through its API."""

    type: Literal["external"] = Field(description="Selects judge-only mode.")


class PullConfig(_Model):
    """Pull: Sentra only records the weights; the traffic layer polls the API for them."""

    type: Literal["pull"] = Field(description="Selects the pull actuator.")


class CommandConfig(_Model):
    """Command: run a program with the weights as placeholders and environment variables."""

    type: Literal["command"] = Field(description="Selects the command actuator.")
    argv: list[str] = Field(
        description="Program and arguments; {stable} {canary} {baseline} {rollout} are replaced."
    )
    read_argv: list[str] | None = Field(
        default=None,
        description='Optional program whose stdout is the current weights as JSON {"stable": ..}.',
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for both commands."
    )
    cwd: str | None = Field(default=None, description="Working directory of the commands.")
    timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one command run.")

    @field_validator("argv", "read_argv")
    @classmethod
    def _argv(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_placeholders(check_argv(value))


class WebhookConfig(_Model):
    """Webhook: POST the weights as JSON to a URL, optionally signed with HMAC-SHA256."""

    type: Literal["webhook"] = Field(description="Selects the webhook actuator.")
    url: str = Field(description="URL that receives the POST.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (e.g. Authorization)."
    )
    secret_env: str | None = Field(
        default=None, description="Environment variable holding the HMAC-SHA256 signing secret."
    )
    secret_file: str | None = Field(
        default=None, description="File holding the HMAC-SHA256 signing secret."
    )
    signature_header: str = Field(
        default="X-Sentra-Signature",
        description="Header that carries 'sha256=<hex HMAC of the body>'.",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one POST.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value)

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookConfig:
        if self.secret_env is not None and self.secret_file is not None:
            raise ValueError("set either secret_env or secret_file, not both")
        return self


class KubernetesTargets(_Model):
    """Object names per variant: Deployments (replicas mode) or Services (httproute mode)."""

    stable: str = Field(description="Stable Deployment (replicas) or Service (httproute).")
    canary: str = Field(description="Canary Deployment (replicas) or Service (httproute).")
    baseline: str | None = Field(default=None, description="Optional baseline Deployment/Service.")


SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubernetesConfig(_Model):
    """Kubernetes: replica-ratio canary (Deployment scale) or Gateway API HTTPRoute weights."""

    type: Literal["kubernetes"] = Field(description="Selects the Kubernetes actuator.")
    mode: Literal["replicas", "httproute"] = Field(
        description="replicas: scale Deployments to the ratio; httproute: set backendRef weights."
    )
    targets: KubernetesTargets = Field(description="Deployments or Services per variant.")
    namespace: str | None = Field(
        default=None,
        description="Namespace of the objects; default: the service account's namespace.",
    )
    total_replicas: int | None = Field(
        default=None, ge=1, description="replicas mode: replicas shared by all variants (N)."
    )
    route: str | None = Field(default=None, description="httproute mode: the HTTPRoute name.")
    rule: int = Field(default=0, ge=0, description="httproute mode: index of the rule to weight.")
    api_url: str = Field(
        default="https://kubernetes.default.svc", description="Kubernetes API server base URL."
    )
    token_file: str | None = Field(
        default=f"{SERVICE_ACCOUNT_DIR}/token",
        description="Bearer token file (re-read on every call: tokens rotate); null: no token.",
    )
    ca_file: str | None = Field(
        default=f"{SERVICE_ACCOUNT_DIR}/ca.crt",
        description="CA bundle that signs the API server's certificate (https only).",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one API request.")

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return check_http_url(value)

    @model_validator(mode="after")
    def _mode_fields(self) -> KubernetesConfig:
        if self.mode == "replicas" and self.total_replicas is None:
            raise ValueError("mode replicas needs total_replicas (N shared by the variants)")
        if self.mode == "httproute" and not self.route:
            raise ValueError("mode httproute needs route (the HTTPRoute name)")
        if self.mode == "replicas" and self.route is not None:
            raise ValueError("route is only used in mode httproute")
        if self.mode == "httproute" and self.total_replicas is not None:
            raise ValueError("total_replicas is only used in mode replicas")
        return self


ActuatorConfig = Annotated[
    HaproxyConfig
    | NginxConfig
    | PullConfig
    | CommandConfig
    | WebhookConfig
    | KubernetesConfig
    | ExternalConfig,
    Field(discriminator="type"),
]
"""The ``actuator:`` key of a rollout spec; ``type`` picks the model."""


# ---------------------------------------------------------------------- hooks and notifications

HookPoint = Literal["pre_rollout", "pre_promote", "post_promote", "on_rollback"]
HOOK_POINTS: tuple[HookPoint, ...] = ("pre_rollout", "pre_promote", "post_promote", "on_rollback")
PRE_POINTS = frozenset({"pre_rollout", "pre_promote"})


class HookConfig(_Model):
    """One hook: a program (argv) or a webhook, run at a rollout point.

    A pre-hook (``pre_rollout``, ``pre_promote``) that fails stops the rollout there unless
    ``on_failure: ignore``. After promotion or a rollback nothing can be stopped any more, so
    those hooks' failures are recorded only.
    """

    name: str | None = Field(default=None, description="Label for logs and the audit trail.")
    command: list[str] | None = Field(
        default=None,
        description="Program and arguments (no shell); gets the context as JSON on stdin.",
    )
    webhook: str | None = Field(default=None, description="URL that receives a JSON POST.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers of the webhook."
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Timeout of the hook.")
    on_failure: Literal["abort", "ignore"] | None = Field(
        default=None,
        description="abort: a failing pre-hook stops the rollout (default for pre_* points); "
        "ignore: record the failure and go on (default after promotion and on rollback).",
    )

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_argv(value)

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value)

    @model_validator(mode="after")
    def _one_kind(self) -> HookConfig:
        if (self.command is None) == (self.webhook is None):
            raise ValueError("a hook has either 'command' (an argv list) or 'webhook' (a URL)")
        if self.headers and self.webhook is None:
            raise ValueError("headers are only used by webhook hooks")
        return self

    def label(self) -> str:
        """How logs name the hook: its name, else the program or URL."""
        if self.name:
            return self.name
        return self.command[0] if self.command else str(self.webhook)

    def aborts(self, point: str) -> bool:
        """Whether a failure of this hook at ``point`` stops the rollout."""
        if point not in PRE_POINTS:
            return False
        return self.on_failure != "ignore"


class NotifyConfig(_Model):
    """A notification target: each decision (step, promote, rollback, ...) POSTed to a URL."""

    webhook: str = Field(description="URL that receives the notification (e.g. a Slack webhook).")
    format: Literal["slack", "json"] = Field(
        default="json",
        description='slack: {"text", "blocks"} for Slack incoming webhooks; json: the decision.',
    )
    events: list[str] | None = Field(
        default=None,
        description="Decision kinds to send (e.g. [promoted, rolled_back]); default: all.",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    timeout_s: float = Field(default=5.0, gt=0, description="Timeout of one attempt.")
    retries: int = Field(default=2, ge=0, le=5, description="Attempts after the first failure.")
    backoff_s: float = Field(
        default=0.5, ge=0, description="Wait before the first retry; doubles for each next one."
    )

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value)
