"""HAProxy through its runtime API (the ``stats socket ... level admin``).

One connection per call, in HAProxy's non-interactive mode: Sentra writes one line of
``;``-separated commands and reads until HAProxy closes the connection. Each command's answer
ends with an empty line, so a chained ``get weight a; get weight b`` answers in order.

``apply`` first reads the current weights with ``get weight``. That does two jobs: a wrong
backend or server name fails before any weight has moved (no half-applied split), and a split
HAProxy already routes is left alone (``changed=False``). The percentages are set as HAProxy
weights directly (HAProxy accepts 0..256, a percent fits); weight 0 drains a server.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from sentra.rollout.actuators.base import ActuatorError, ApplyResult, Weights, require_baseline
from sentra.rollout.actuators.config import HaproxyConfig

_ERRORS: Final = {
    "No such backend.": "HAProxy has no backend {backend!r}; check 'backend' in the actuator",
    "No such server.": "backend {backend!r} has no server {server!r}; check 'servers'",
    "Permission denied": "the HAProxy socket {socket} is not at 'level admin'; "
    "set 'stats socket ... level admin' in haproxy.cfg",
}


class HaproxyActuator:
    """Sets the weights of a backend's stable/canary/baseline servers."""

    kind = "haproxy"

    def __init__(self, config: HaproxyConfig, *, name: str) -> None:
        self.config = config
        self.name = name
        servers = config.servers
        self._servers: dict[str, str] = {"stable": servers.stable, "canary": servers.canary}
        if servers.baseline is not None:
            self._servers["baseline"] = servers.baseline

    async def apply(self, weights: Weights) -> ApplyResult:
        require_baseline(weights, "baseline" in self._servers, what="server")
        where = f"{self.config.backend} via {self.config.socket}"
        if await self.read() == weights:
            return ApplyResult(False, f"{where} already routes {weights}")
        want = weights.as_dict()
        commands = [
            f"set server {self.config.backend}/{server} weight {want[variant]}"
            for variant, server in self._servers.items()
        ]
        answers = await self._call(commands)
        for (variant, server), answer in zip(self._servers.items(), answers, strict=True):
            if answer:
                raise self._error(answer, server, f"setting {variant} weight")
        parts = ", ".join(f"{s} {want[v]}" for v, s in self._servers.items())
        return ApplyResult(
            True, f"set {self.config.backend} weights {parts} via {self.config.socket}"
        )

    async def read(self) -> Weights | None:
        servers = list(self._servers.items())
        answers = await self._call([f"get weight {self.config.backend}/{s}" for _v, s in servers])
        current: dict[str, int] = {}
        for (variant, server), answer in zip(servers, answers, strict=True):
            head = answer.split(" ", 1)[0]
            if not head.isdigit():
                raise self._error(answer, server, "reading weights")
            current[variant] = int(head)
        return Weights.from_ratio(current["stable"], current["canary"], current.get("baseline", 0))

    async def close(self) -> None:
        return None  # one connection per call: nothing held open

    # ------------------------------------------------------------------ runtime API

    async def _call(self, commands: list[str]) -> list[str]:
        """Send ``commands`` in one line; return one stripped answer per command."""
        payload = ("; ".join(commands) + "\n").encode()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                reader, writer = await self._connect()
                try:
                    writer.write(payload)
                    await writer.drain()
                    raw = await reader.read()  # HAProxy closes after answering
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):  # peer gone; the answer is what counts
                        await writer.wait_closed()
        except TimeoutError:
            raise ActuatorError(
                f"HAProxy runtime API at {self.config.socket} did not answer within "
                f"{self.config.timeout_s:g} s",
                retryable=True,
            ) from None
        except OSError as exc:
            raise ActuatorError(
                f"cannot reach the HAProxy runtime API at {self.config.socket}: "
                f"{exc.strerror or exc}",
                retryable=True,
            ) from None
        text = raw.decode("utf-8", "replace")
        answers = [a.strip() for a in text.split("\n\n")]
        while len(answers) > len(commands) and not answers[-1]:
            answers.pop()
        if len(answers) != len(commands):
            # HAProxy answers every command; a short answer means a refusal for the whole line.
            raise self._error(text.strip() or "no answer", "?", "talking to the runtime API")
        return answers

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        address = self.config.socket
        if address.startswith(("/", ".", "unix:")):
            path = address.removeprefix("unix://").removeprefix("unix:")
            return await asyncio.open_unix_connection(path)
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        return await asyncio.open_connection(host.strip("[]"), int(port))

    def _error(self, answer: str, server: str, doing: str) -> ActuatorError:
        first = answer.strip().splitlines()[0] if answer.strip() else answer
        for prefix, hint in _ERRORS.items():
            if first.startswith(prefix):
                text = hint.format(
                    backend=self.config.backend, server=server, socket=self.config.socket
                )
                return ActuatorError(f"{doing}: {text} (HAProxy said {first!r})", retryable=False)
        return ActuatorError(f"{doing}: HAProxy answered {first!r}", retryable=False)
