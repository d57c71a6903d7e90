"""Rollout hooks (programs or webhooks run at rollout points) and decision notifications.

Hooks run at four points: ``pre_rollout`` (before the first step moves traffic),
``pre_promote`` (before 100 %), ``post_promote`` and ``on_rollback``. They run one after the
other in the spec's order; a failing pre-hook stops the point (``HookOutcome.aborted``) unless
it says ``on_failure: ignore``. A command hook gets the context as JSON on stdin and in
``SENTRA_CONTEXT``, plus ``SENTRA_HOOK_POINT`` and ``SENTRA_ROLLOUT``; a webhook hook gets
``{"point", "context", "ts"}`` as a JSON POST and succeeds on any 2xx.

:class:`Notifier` posts decisions to a chat or an incident tool. Its ``send`` never raises: a
failure is logged and counted, retried a couple of times with back-off, and the whole call is
bounded in time, so a dead notification target never holds up the controller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from sentra.rollout.actuators.config import HookConfig, HookPoint, NotifyConfig
from sentra.rollout.actuators.process import ProgramNotFound, run_argv

log = logging.getLogger(__name__)


class HookSet(Protocol):
    """The spec's ``hooks:`` block: one list of hooks per point."""

    @property
    def pre_rollout(self) -> Sequence[HookConfig]: ...
    @property
    def pre_promote(self) -> Sequence[HookConfig]: ...
    @property
    def post_promote(self) -> Sequence[HookConfig]: ...
    @property
    def on_rollback(self) -> Sequence[HookConfig]: ...


@dataclass(frozen=True)
class HookResult:
    """How one hook went."""

    hook: str
    ok: bool
    detail: str
    duration_s: float


@dataclass(frozen=True)
class HookOutcome:
    """All hooks of one point. ``aborted``: a failing hook stops the rollout at this point."""

    point: str
    results: tuple[HookResult, ...] = ()
    aborted: bool = False

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def reason(self) -> str:
        """The failures, in words (empty when every hook succeeded)."""
        return "; ".join(f"{r.hook}: {r.detail}" for r in self.results if not r.ok)


async def run_hooks(
    hooks: HookSet | Sequence[HookConfig],
    point: HookPoint,
    context: Mapping[str, Any],
    *,
    client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> HookOutcome:
    """Run the hooks of ``point`` in order; stop at the first failure that aborts."""
    todo = list(hooks) if isinstance(hooks, Sequence) else list(getattr(hooks, point))
    if not todo:
        return HookOutcome(point)
    own = client is None
    http = client or httpx.AsyncClient(follow_redirects=False)
    results: list[HookResult] = []
    try:
        for hook in todo:
            started = clock()
            if hook.command is not None:
                ok, detail = await _run_command(hook, point, context)
            else:
                ok, detail = await _run_webhook(http, hook, point, context)
            results.append(HookResult(hook.label(), ok, detail, clock() - started))
            if not ok:
                log.warning("%s hook %s failed: %s", point, hook.label(), detail)
                if hook.aborts(point):
                    return HookOutcome(point, tuple(results), aborted=True)
    finally:
        if own:
            await http.aclose()
    return HookOutcome(point, tuple(results))


async def _run_command(
    hook: HookConfig, point: str, context: Mapping[str, Any]
) -> tuple[bool, str]:
    assert hook.command is not None
    text = json.dumps(context, default=str)
    env = {
        "SENTRA_HOOK_POINT": point,
        "SENTRA_ROLLOUT": str(context.get("rollout", "")),
        "SENTRA_CONTEXT": text,
    }
    try:
        result = await run_argv(
            hook.command, timeout_s=hook.timeout_s, env=env, stdin=text.encode()
        )
    except ProgramNotFound as exc:
        return False, str(exc)
    if result.ok:
        return True, f"{hook.command[0]} exited with 0"
    return False, result.describe()


async def _run_webhook(
    http: httpx.AsyncClient, hook: HookConfig, point: str, context: Mapping[str, Any]
) -> tuple[bool, str]:
    assert hook.webhook is not None
    body = {"point": point, "context": dict(context), "ts": time.time()}
    try:
        response = await http.post(
            hook.webhook,
            content=json.dumps(body, default=str).encode(),
            headers={"Content-Type": "application/json", **hook.headers},
            timeout=hook.timeout_s,
        )
    except httpx.TimeoutException:
        return False, f"{hook.webhook} did not answer within {hook.timeout_s:g} s"
    except httpx.HTTPError as exc:
        return False, f"cannot reach {hook.webhook}: {exc}"
    if response.is_success:
        return True, f"{hook.webhook} answered {response.status_code}"
    return False, f"{hook.webhook} answered {response.status_code}: {response.text[:200]}"


# ---------------------------------------------------------------------- notifications

_ICONS = {
    "start": ":rocket:",
    "step": ":arrow_up:",
    "promote": ":arrow_up:",
    "promoted": ":white_check_mark:",
    "rollback": ":rotating_light:",
    "rolled_back": ":rotating_light:",
    "abort": ":octagonal_sign:",
    "aborted": ":octagonal_sign:",
    "fail": ":x:",
    "pause": ":double_vertical_bar:",
    "hold": ":hourglass:",
}


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (``&``, ``<``, ``>``) as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary(decision: Mapping[str, Any]) -> str:
    """One line: ``checkout: rolled_back - error rate 2.1 % above 0.5 %``."""
    rollout = decision.get("rollout") or "rollout"
    kind = decision.get("kind", "decision")
    reason = decision.get("reason") or ""
    return f"{rollout}: {kind}" + (f" - {reason}" if reason else "")


def render_slack(decision: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook payload: ``text`` (fallback) and ``blocks``."""
    icon = _ICONS.get(str(decision.get("kind")), ":information_source:")
    rollout = _escape(str(decision.get("rollout") or "rollout"))
    kind = _escape(str(decision.get("kind", "decision")))
    reason = _escape(str(decision.get("reason") or ""))
    facts = []
    weights = decision.get("weights")
    if isinstance(weights, Mapping):
        facts.append(f"canary {weights.get('canary', '?')}%")
    if "step_index" in decision:
        facts.append(f"step {decision['step_index']}")
    if decision.get("from_phase") and decision.get("to_phase"):
        facts.append(f"{decision['from_phase']} → {decision['to_phase']}")
    if decision.get("actor"):
        facts.append(f"by {decision['actor']}")
    headline = f"{icon} *{rollout}* {kind}" + (f": {reason}" if reason else "")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
    ]
    if facts:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _escape(" · ".join(facts))}],
            }
        )
    return {"text": summary(decision), "blocks": blocks}


def render_json(decision: Mapping[str, Any]) -> dict[str, Any]:
    """The decision as it is, under ``decision``, with a one-line ``summary``."""
    return {"event": "decision", "summary": summary(decision), "decision": dict(decision)}


class Notifier:
    """Sends decisions to one notification target; ``send`` never raises.

    Counts: ``sent``, ``failed`` (gave up after the retries, or a 4xx) and ``skipped`` (a kind
    not in ``events``). A 4xx is not retried: the URL or token is wrong and will stay so.
    """

    def __init__(
        self,
        config: NotifyConfig,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._sleep = sleep
        self.sent = 0
        self.failed = 0
        self.skipped = 0
        self.last_error = ""

    @property
    def budget_s(self) -> float:
        """The most time one ``send`` takes: every attempt's timeout and every back-off."""
        c = self.config
        waits = sum(c.backoff_s * float(2**i) for i in range(c.retries))
        return float(c.timeout_s * (c.retries + 1) + waits + 1.0)

    def wants(self, kind: str) -> bool:
        return self.config.events is None or kind in self.config.events

    async def send(self, decision: Mapping[str, Any]) -> bool:
        """Deliver ``decision``; True when the target took it. Never raises (but cancels)."""
        kind = str(decision.get("kind", ""))
        if not self.wants(kind):
            self.skipped += 1
            return False
        try:
            async with asyncio.timeout(self.budget_s):
                error = await self._deliver(decision)
        except TimeoutError:
            error = f"gave up after {self.budget_s:g} s"
        except Exception as exc:  # the contract: a notifier never breaks the controller
            log.exception("notification to %s failed unexpectedly", self.config.webhook)
            error = f"unexpected {type(exc).__name__}: {exc}"
        if error is None:
            self.sent += 1
            return True
        self.failed += 1
        self.last_error = error
        log.warning("notification %r to %s not delivered: %s", kind, self.config.webhook, error)
        return False

    async def _deliver(self, decision: Mapping[str, Any]) -> str | None:
        c = self.config
        payload = render_slack(decision) if c.format == "slack" else render_json(decision)
        body = json.dumps(payload, default=str).encode()
        headers = {"Content-Type": "application/json", **c.headers}
        error = ""
        for attempt in range(c.retries + 1):
            if attempt:
                await self._sleep(c.backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._client.post(
                    c.webhook, content=body, headers=headers, timeout=c.timeout_s
                )
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if response.is_success:
                return None
            error = f"answered {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                return error  # the request itself is wrong; retrying will not help
        return f"{error} (after {c.retries + 1} attempts)"

    async def close(self) -> None:
        if self._own_client:
            await self._client.aclose()
