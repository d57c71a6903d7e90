"""Webhook: POST the weights as JSON to a URL the user runs (a deploy bot, a mesh controller).

Body: ``{"rollout": "checkout", "weights": {"stable": 70, "canary": 30, "baseline": 0},
"ts": 1714552800.0}``. With a secret configured (``secret_env`` or ``secret_file``) the
request carries ``X-Sentra-Signature: sha256=<hex HMAC-SHA256 of the exact body>``, as GitHub
signs its webhooks; the ``ts`` inside the signed body lets a receiver refuse replays.

Any 2xx is success. 5xx, 429, timeouts and connection errors are retryable; other 4xx are not
(the URL, token or payload is wrong). Redirects are not followed: a webhook that moves is a
configuration to fix, not to guess. A webhook cannot be asked what it routes, so ``read``
returns the last split applied in this process and ``apply`` does not POST the same split
twice in a row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from sentra.rollout.actuators.base import ActuatorError, ApplyResult, Weights
from sentra.rollout.actuators.config import WebhookConfig


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def load_secret(secret_env: str | None, secret_file: str | None) -> bytes | None:
    """The signing secret from an environment variable or a file (trailing newline dropped)."""
    if secret_env is not None:
        value = os.environ.get(secret_env)
        if not value:
            raise ActuatorError(f"signing secret variable {secret_env} is not set", retryable=False)
        return value.encode()
    if secret_file is not None:
        try:
            return Path(secret_file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ActuatorError(
                f"cannot read signing secret {secret_file}: {exc.strerror}", retryable=False
            ) from None
    return None


def classify(response: httpx.Response, what: str) -> ActuatorError | None:
    """None for 2xx; otherwise an error that says whether retrying can help."""
    if response.is_success:
        return None
    snippet = response.text[:200].strip()
    retryable = response.status_code >= 500 or response.status_code == 429
    hint = "" if retryable else " (not retried: fix the URL, credentials or payload)"
    detail = f": {snippet}" if snippet else ""
    return ActuatorError(
        f"{what} answered {response.status_code} {response.reason_phrase}{detail}{hint}",
        retryable=retryable,
    )


class WebhookActuator:
    """POSTs each new split to ``url``."""

    kind = "webhook"

    def __init__(
        self,
        config: WebhookConfig,
        *,
        name: str,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._clock = clock
        self._client = httpx.AsyncClient(
            timeout=config.timeout_s, follow_redirects=False, transport=transport
        )
        self._applied: Weights | None = None

    async def apply(self, weights: Weights) -> ApplyResult:
        if weights == self._applied:
            return ApplyResult(False, f"{self.config.url} was already sent {weights}")
        payload = {"rollout": self.name, "weights": weights.as_dict(), "ts": self._clock()}
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **self.config.headers}
        secret = load_secret(self.config.secret_env, self.config.secret_file)
        if secret is not None:
            headers[self.config.signature_header] = sign(secret, body)
        what = f"webhook {self.config.url}"
        try:
            response = await self._client.post(self.config.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise ActuatorError(
                f"{what} did not answer within {self.config.timeout_s:g} s", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise ActuatorError(f"cannot reach {what}: {exc}", retryable=True) from None
        error = classify(response, what)
        if error is not None:
            raise error
        self._applied = weights
        return ApplyResult(True, f"posted {weights} to {self.config.url} ({response.status_code})")

    async def read(self) -> Weights | None:
        return self._applied

    async def close(self) -> None:
        await self._client.aclose()
