"""Notifiers: a bounded queue and one worker per notification target.

``NotifierQueue.offer`` never waits: the alert goes into the target's queue (a full queue
drops its oldest message and counts it) and the evaluation carries on. The worker sends one
message at a time; a failed attempt is retried with exponential back-off (``backoff``,
doubling, at most ``backoff_max``, ``retries`` times), a 4xx other than 429 is not retried
(the URL or token is wrong and will stay so). Each message's status (queued, sending,
retrying, sent, failed) is reported back through ``on_status`` so the API can show it.

Targets: a generic webhook (the alert as JSON, signed like the webhook actuator with
``X-Sentra-Signature: sha256=<hex HMAC-SHA256 of the body>``), a Slack-compatible webhook
(``{"text", "blocks"}``) and e-mail over SMTP (stdlib ``smtplib`` on a worker thread).
Secrets are read when a message is sent, never logged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import smtplib
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from sentra.alerts.spec import EmailNotifier, NotifierSpec, SlackNotifier, WebhookNotifier
from sentra.rollout.actuators.base import ActuatorError
from sentra.rollout.actuators.webhook import load_secret, sign
from sentra.rollout.hooks import _escape

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, str, str], None]  # (alert id, notifier name, status)
_ICONS = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}
_SEVERITY_ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}


class DeliveryError(Exception):
    """One attempt failed; ``retryable`` says whether another attempt can help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def headline(alert: Mapping[str, Any]) -> str:
    """``[FIRING] cpu-hot (warning): host.cpu.percent = 97 > 90``."""
    state = str(alert.get("state", "")).upper()
    reason = alert.get("reason") or ""
    text = f"[{state}] {alert.get('rule')} ({alert.get('severity')})"
    return text + (f": {reason}" if reason else "")


def render_json(alert: Mapping[str, Any]) -> dict[str, Any]:
    return {"event": "alert", "summary": headline(alert), "alert": dict(alert)}


def render_slack(alert: Mapping[str, Any]) -> dict[str, Any]:
    state = str(alert.get("state", ""))
    icon = _ICONS.get(state, ":information_source:")
    if state == "firing":
        icon = _SEVERITY_ICONS.get(str(alert.get("severity")), icon)
    text = f"{icon} *{_escape(str(alert.get('rule')))}* {_escape(state)}"
    if alert.get("reason"):
        text += f": {_escape(str(alert['reason']))}"
    facts = [str(alert.get("series", "")), f"severity {alert.get('severity')}"]
    if alert.get("summary"):
        facts.insert(0, str(alert["summary"]))
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(" · ".join(facts))}]},
    ]
    return {"text": headline(alert), "blocks": blocks}


def render_email(alert: Mapping[str, Any], sender: str, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"Sentra: {headline(alert)}"[:200]
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    lines = [headline(alert), ""]
    for key in ("summary", "series", "value", "threshold", "state", "started_at", "fired_at"):
        if alert.get(key) not in (None, ""):
            lines.append(f"{key}: {alert[key]}")
    labels = alert.get("labels") or {}
    if labels:
        lines.append("labels: " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _read_secret(env: str | None, file: str | None, what: str) -> str:
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise DeliveryError(f"{what} variable {env} is not set", retryable=False)
        return value
    if file is not None:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise DeliveryError(f"cannot read {what} file {file}: {exc}", retryable=False) from None
    return ""


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], limit_s: float
) -> None:
    try:
        response = await client.post(url, content=body, headers=headers, timeout=limit_s)
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {limit_s:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"cannot reach the target: {type(exc).__name__}") from None
    if response.is_success:
        return
    retryable = response.status_code >= 500 or response.status_code == 429
    raise DeliveryError(f"answered {response.status_code}", retryable=retryable)


def sender_for(
    spec: NotifierSpec, client: httpx.AsyncClient
) -> Callable[[Mapping[str, Any]], Awaitable[None]]:
    """One attempt at delivering an alert to ``spec``'s target; raises DeliveryError."""

    if isinstance(spec, WebhookNotifier):

        async def webhook(alert: Mapping[str, Any]) -> None:
            body = json.dumps(render_json(alert), separators=(",", ":"), default=str).encode()
            headers = {"Content-Type": "application/json", **spec.headers}
            try:
                secret = load_secret(spec.secret_env, spec.secret_file)
            except ActuatorError as exc:  # the message names the variable or file
                raise DeliveryError(str(exc), retryable=False) from None
            if secret is not None:
                headers[spec.signature_header] = sign(secret, body)
            await _post(client, spec.url, body, headers, spec.timeout)

        return webhook

    if isinstance(spec, SlackNotifier):

        async def slack(alert: Mapping[str, Any]) -> None:
            url = spec.url or _read_secret(spec.url_env, spec.url_file, "Slack URL")
            body = json.dumps(render_slack(alert)).encode()
            await _post(client, url, body, {"Content-Type": "application/json"}, spec.timeout)

        return slack

    async def email(alert: Mapping[str, Any]) -> None:
        message = render_email(alert, spec.sender, spec.to)
        password = _read_secret(spec.password_env, spec.password_file, "SMTP password")
        await asyncio.to_thread(_smtp_send, spec, message, password)

    return email


def _smtp_send(spec: EmailNotifier, message: EmailMessage, password: str) -> None:
    try:
        smtp: smtplib.SMTP
        if spec.tls == "ssl":
            ctx = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(spec.host, spec.port, timeout=spec.timeout, context=ctx)
        else:
            smtp = smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout)
        with smtp:
            if spec.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if spec.username:
                smtp.login(spec.username, password)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryError("the SMTP server refused the login", retryable=False) from None
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError("the SMTP server refused every recipient", retryable=False) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {spec.host}:{spec.port}: {type(exc).__name__}") from None


class NotifierQueue:
    """One target's queue and worker; ``offer`` never blocks, ``run`` never raises."""

    def __init__(
        self,
        name: str,
        spec: NotifierSpec,
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
        *,
        maxsize: int = 100,
        on_status: StatusCallback | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.spec = spec
        self._send = send
        self._items: collections.deque[dict[str, Any]] = collections.deque(maxlen=maxsize)
        self._wake = asyncio.Event()
        self._on_status = on_status
        self._sleep = sleep
        self._clock = clock
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.attempts = 0
        self.last_error = ""
        self.last_sent_at: float | None = None
        self.busy = False

    def offer(self, alert: Mapping[str, Any]) -> None:
        if len(self._items) == self._items.maxlen:
            old = self._items[0]
            self.dropped += 1
            self._status(old, "dropped: the queue was full")
        self._items.append(dict(alert))
        self._status(alert, "queued")
        self._wake.set()

    def depth(self) -> int:
        return len(self._items)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.spec.type,
            "target": self.spec.target(),
            "queued": self.depth() + (1 if self.busy else 0),
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_sent_at": self.last_sent_at,
        }

    async def run(self) -> None:
        while True:
            while not self._items:
                self._wake.clear()
                await self._wake.wait()
            alert = self._items.popleft()
            self.busy = True
            try:
                await self._deliver(alert)
            except Exception as exc:  # a notifier never takes the service down
                log.exception("notifier %s failed unexpectedly", self.name)
                self.failed += 1
                self.last_error = f"unexpected {type(exc).__name__}"
                self._status(alert, f"failed: {self.last_error}")
            finally:
                self.busy = False

    async def _deliver(self, alert: dict[str, Any]) -> None:
        spec = self.spec
        for attempt in range(spec.retries + 1):
            if attempt:
                wait = min(spec.backoff * 2 ** (attempt - 1), spec.backoff_max)
                self._status(alert, f"retrying in {wait:g} s: {self.last_error}")
                await self._sleep(wait)
            self.attempts += 1
            try:
                async with asyncio.timeout(spec.timeout + 1.0):
                    await self._send(alert)
            except TimeoutError:
                self.last_error = f"no answer within {spec.timeout:g} s"
                continue
            except DeliveryError as exc:
                self.last_error = str(exc)
                if not exc.retryable:
                    break
                continue
            self.sent += 1
            self.last_sent_at = self._clock()
            self._status(alert, "sent")
            return
        self.failed += 1
        log.warning("alert %s not delivered to %s: %s", alert.get("id"), self.name, self.last_error)
        self._status(alert, f"failed: {self.last_error}")

    def _status(self, alert: Mapping[str, Any], status: str) -> None:
        if self._on_status is not None:
            with contextlib.suppress(Exception):
                self._on_status(str(alert.get("id", "")), self.name, status)
