"""Kubernetes: a replica-ratio canary, or Gateway API HTTPRoute weights.

Talks to the API server with httpx (no client library): a bearer token read from a file on
every call (service-account tokens rotate), the CA bundle for https, and the namespace from
the settings or the ``namespace`` file beside the token (in a pod: its own namespace).

``replicas`` mode: the variants share ``total_replicas`` (N). The canary gets
``round(N * canary% / 100)`` replicas, at least 1 when its weight is above 0, the baseline
likewise, and stable the rest (at least 1 while its weight is above 0, so with a tiny N the
total can exceed N by one). Each Deployment is scaled through its ``scale`` subresource
(``autoscaling/v1 Scale``) with a JSON merge patch; the variant that grows is patched before
the one that shrinks, so capacity never dips during a step.

``httproute`` mode: the weights of the ``backendRefs`` of one rule of an HTTPRoute
(``gateway.networking.k8s.io/v1``). A merge patch replaces a list whole, so Sentra reads the
route, changes only the weights and sends the full ``rules`` with the route's
``resourceVersion``: a concurrent edit makes the server answer 409 instead of being
overwritten; Sentra then reads again and retries once.
"""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
from pathlib import Path
from typing import Any

import httpx

from sentra.rollout.actuators.base import ActuatorError, ApplyResult, Weights, require_baseline
from sentra.rollout.actuators.config import KubernetesConfig

MERGE_PATCH = "application/merge-patch+json"
ROUTE_API = "gateway.networking.k8s.io/v1"


# ---------------------------------------------------------------------- pure helpers


def replica_split(total: int, weights: Weights) -> dict[str, int]:
    """Replicas per variant for ``weights`` out of ``total`` (see the module docstring)."""

    def share(percent: int) -> int:
        if percent <= 0:
            return 0
        return max(1, int(total * percent / 100 + 0.5))

    canary = share(weights.canary)
    baseline = share(weights.baseline)
    stable = max(total - canary - baseline, 1 if weights.stable > 0 else 0)
    if weights.stable == 0:
        stable = 0
    return {"stable": stable, "canary": canary, "baseline": baseline}


def parse_scale(data: Any) -> int:
    """``spec.replicas`` of an ``autoscaling/v1`` Scale (0 when the field is absent)."""
    if not isinstance(data, dict) or data.get("kind") != "Scale":
        raise ValueError(f"expected an autoscaling/v1 Scale, got kind {_kind(data)!r}")
    spec = data.get("spec") or {}
    replicas = spec.get("replicas", 0) if isinstance(spec, dict) else None
    if not isinstance(replicas, int) or replicas < 0:
        raise ValueError(f"Scale spec.replicas is not a count: {replicas!r}")
    return replicas


def _rule_refs(route: Any, rule: int) -> list[dict[str, Any]]:
    if not isinstance(route, dict) or route.get("kind") != "HTTPRoute":
        raise ValueError(f"expected an HTTPRoute, got kind {_kind(route)!r}")
    rules = (route.get("spec") or {}).get("rules") or []
    if not isinstance(rules, list) or rule >= len(rules):
        raise ValueError(f"the HTTPRoute has {len(rules)} rule(s); there is no rule {rule}")
    refs = rules[rule].get("backendRefs") or []
    if not isinstance(refs, list):
        raise ValueError(f"rule {rule} backendRefs is not a list")
    return refs


def route_weights(route: Any, rule: int, backends: dict[str, str]) -> dict[str, int]:
    """Weight per variant of the rule's backendRefs (a ref without ``weight`` counts 1)."""
    refs = _rule_refs(route, rule)
    by_name = {ref.get("name"): ref for ref in refs if isinstance(ref, dict)}
    missing = [name for name in backends.values() if name not in by_name]
    if missing:
        present = ", ".join(sorted(str(n) for n in by_name)) or "none"
        raise ValueError(
            f"rule {rule} has no backendRef named {missing[0]!r} (it has: {present}); "
            f"check 'targets'"
        )
    out: dict[str, int] = {}
    for variant, name in backends.items():
        weight = by_name[name].get("weight", 1)
        if not isinstance(weight, int) or weight < 0:
            raise ValueError(f"backendRef {name!r} has weight {weight!r}")
        out[variant] = weight
    return out


def with_route_weights(
    route: dict[str, Any], rule: int, backends: dict[str, str], weights: Weights
) -> list[Any]:
    """The route's ``rules`` with the rule's backend weights set; other fields untouched."""
    rules: list[Any] = copy.deepcopy(route["spec"]["rules"])
    want = weights.as_dict()
    variant_of = {name: variant for variant, name in backends.items()}
    for ref in rules[rule].get("backendRefs") or []:
        variant = variant_of.get(ref.get("name"))
        if variant is not None:
            ref["weight"] = want[variant]
    return rules


def _kind(data: Any) -> object:
    return data.get("kind") if isinstance(data, dict) else type(data).__name__


# ---------------------------------------------------------------------- the actuator


class KubernetesActuator:
    """Moves a canary by Deployment replica ratio or HTTPRoute backend weights."""

    kind = "kubernetes"

    def __init__(
        self,
        config: KubernetesConfig,
        *,
        name: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._namespace: str | None = config.namespace
        targets = config.targets
        self._targets = {"stable": targets.stable, "canary": targets.canary}
        if targets.baseline is not None:
            self._targets["baseline"] = targets.baseline

    # -------------------------------------------------------------- Actuator

    async def apply(self, weights: Weights) -> ApplyResult:
        what = "Deployment" if self.config.mode == "replicas" else "backendRef"
        require_baseline(weights, "baseline" in self._targets, what=what)
        if self.config.mode == "replicas":
            return await self._apply_replicas(weights)
        try:
            return await self._apply_route(weights)
        except _Conflict:
            return await self._apply_route(weights)  # someone edited the route: read again

    async def read(self) -> Weights | None:
        if self.config.mode == "replicas":
            current = await self._replicas()
        else:
            route = await self._get_route()
            current = self._parse(route_weights, route, self.config.rule, self._targets)
        return Weights.from_ratio(current["stable"], current["canary"], current.get("baseline", 0))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -------------------------------------------------------------- replicas mode

    async def _replicas(self) -> dict[str, int]:
        out = {}
        for variant, deployment in self._targets.items():
            data = await self._request("GET", await self._scale_path(deployment))
            out[variant] = self._parse(parse_scale, data)
        return out

    async def _apply_replicas(self, weights: Weights) -> ApplyResult:
        assert self.config.total_replicas is not None  # the config model guarantees it
        target = replica_split(self.config.total_replicas, weights)
        current = await self._replicas()
        moves = [(v, current[v], target[v]) for v in self._targets if current[v] != target[v]]
        if not moves:
            return ApplyResult(False, f"Deployments already run {self._describe(target)}")
        moves.sort(key=lambda move: move[2] <= move[1])  # the ones that grow first
        for variant, _before, after in moves:
            path = await self._scale_path(self._targets[variant])
            await self._request("PATCH", path, body={"spec": {"replicas": after}})
        return ApplyResult(
            True, f"scaled {self._describe(target)} in namespace {await self._ns()} for {weights}"
        )

    def _describe(self, replicas: dict[str, int]) -> str:
        return ", ".join(f"{self._targets[v]}={replicas[v]}" for v in self._targets)

    async def _scale_path(self, deployment: str) -> str:
        return f"/apis/apps/v1/namespaces/{await self._ns()}/deployments/{deployment}/scale"

    # -------------------------------------------------------------- httproute mode

    async def _route_path(self) -> str:
        return f"/apis/{ROUTE_API}/namespaces/{await self._ns()}/httproutes/{self.config.route}"

    async def _get_route(self) -> dict[str, Any]:
        data = await self._request("GET", await self._route_path())
        if not isinstance(data, dict):
            raise ActuatorError("the HTTPRoute answer is not an object", retryable=False)
        return data

    async def _apply_route(self, weights: Weights) -> ApplyResult:
        route = await self._get_route()
        rule = self.config.rule
        current = self._parse(route_weights, route, rule, self._targets)
        want = weights.as_dict()
        if all(current[v] == want[v] for v in self._targets):
            return ApplyResult(False, f"HTTPRoute {self.config.route} already routes {weights}")
        rules = with_route_weights(route, rule, self._targets, weights)
        patch = {
            "metadata": {"resourceVersion": route.get("metadata", {}).get("resourceVersion")},
            "spec": {"rules": rules},
        }
        await self._request("PATCH", await self._route_path(), body=patch)
        return ApplyResult(
            True, f"set HTTPRoute {await self._ns()}/{self.config.route} rule {rule} to {weights}"
        )

    # -------------------------------------------------------------- HTTP

    def _parse(self, parser: Any, *args: Any) -> Any:
        try:
            return parser(*args)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ActuatorError(f"unexpected API answer: {exc}", retryable=False) from None

    async def _ns(self) -> str:
        if self._namespace is None:
            if self.config.token_file is None:
                raise ActuatorError(
                    "set 'namespace' in the actuator (no token_file to find it beside)",
                    retryable=False,
                )
            path = Path(self.config.token_file).parent / "namespace"
            text = await asyncio.to_thread(_read_file, path, "namespace")
            self._namespace = text.strip()
        return self._namespace

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            verify: ssl.SSLContext | bool = True
            if self.config.api_url.startswith("https://") and self.config.ca_file is not None:
                verify = await asyncio.to_thread(_ssl_context, self.config.ca_file)
            self._client = httpx.AsyncClient(
                base_url=self.config.api_url,
                timeout=self.config.timeout_s,
                verify=verify,
                transport=self._transport,
                follow_redirects=False,
            )
        return self._client

    async def _request(self, method: str, path: str, *, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        if self.config.token_file is not None:
            token = await asyncio.to_thread(_read_file, Path(self.config.token_file), "token")
            headers["Authorization"] = f"Bearer {token.strip()}"
        content = None
        if body is not None:
            headers["Content-Type"] = MERGE_PATCH
            content = json.dumps(body).encode()
        client = await self._http()
        try:
            response = await client.request(method, path, content=content, headers=headers)
        except httpx.TimeoutException:
            raise ActuatorError(
                f"{method} {path}: no answer within {self.config.timeout_s:g} s", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise ActuatorError(
                f"cannot reach the API server {self.config.api_url}: {exc}", retryable=True
            ) from None
        if not response.is_success:
            raise _status_error(method, path, response)
        try:
            return response.json()
        except ValueError:
            raise ActuatorError(
                f"{method} {path}: the answer is not JSON", retryable=True
            ) from None


def _status_error(method: str, path: str, response: httpx.Response) -> ActuatorError:
    """An ActuatorError from a ``v1 Status`` answer; the message starts with the code."""
    code = response.status_code
    try:
        status = response.json()
        message = str(status.get("message") or status.get("reason") or "")
    except (ValueError, AttributeError):
        message = response.text[:200]
    hints = {
        401: "the API server refused the token; check token_file",
        403: "the service account lacks RBAC permission (see docs/actuators.md for the Role)",
        404: "check the namespace and the object names in the actuator settings",
        409: "the object changed meanwhile",
        422: "the API server rejected the change",
    }
    hint = hints.get(code, "")
    retryable = code >= 500 or code in (409, 429)
    text = f"{code} on {method} {path}: {message}" + (f" ({hint})" if hint else "")
    if code == 409:
        return _Conflict(text, retryable=True)
    return ActuatorError(text, retryable=retryable)


class _Conflict(ActuatorError):
    """409: the object's resourceVersion moved on; read it again and retry."""


def _read_file(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ActuatorError(
            f"cannot read the Kubernetes {what} file {path}: {exc.strerror}; outside a cluster "
            f"set token_file{' and namespace' if what == 'namespace' else ''} in the actuator",
            retryable=False,
        ) from None


def _ssl_context(ca_file: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ActuatorError(f"cannot load the CA file {ca_file}: {exc}", retryable=False) from None
