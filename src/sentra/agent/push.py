"""Sending spooled batches and heartbeats to the server's API (httpx, HTTP/1.1, keep-alive).

A batch goes out exactly as it was spooled: a MessagePack ingest body whose every sample
carries an ``id`` made of the batch's id and the sample's index, fixed when the batch was
written to the spool. When the server committed a batch but its answer was lost (the
server was killed, the connection dropped), the agent sends the same bytes again and the
server's idempotency record (``ingest/dedupe.py``, which survives its restart) counts
them as duplicates: a replay is exactly-once in effect within the server's dedupe window
(``[ingest] dedupe_window_s``, 10 minutes by default), which a lost answer never outlives.

What an answer means for the batch:

- 2xx: taken (``Sent``); the spool may forget it.
- 400 with every item rejected, 413, 415, 422: the server will never take it (the items
  are in its dead letters); ``Sent`` with ``rejected`` set, so the spool moves on instead
  of resending a poison batch forever.
- anything else (no connection, timeout, 401/403 while a token is being fixed, 408, 429,
  5xx): ``Retry``; the batch stays first in the spool and is resent after a back-off.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sentra import __version__

INGEST = "/api/v1/ingest"
HEARTBEAT = "/api/v1/agents/heartbeat"
_NEVER = frozenset({400, 413, 415, 422})


@dataclass(frozen=True)
class Sent:
    accepted: int
    duplicates: int
    rejected: int = 0  # items the server refused for good (400 and the like)


class Retry(Exception):
    """The batch was not taken; try again after at least ``after`` seconds."""

    def __init__(self, reason: str, after: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


def tls_verify(ca_file: Path | None, insecure: bool) -> ssl.SSLContext | bool:
    """What httpx should check the server's certificate against."""
    if insecure:
        return False
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    return True


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), 300.0)
    except ValueError:
        return 0.0


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or "")[:200]
    return ""


class Pusher:
    def __init__(
        self,
        server: str,
        token: str,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.server,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"sentra-agent/{__version__}",
            },
            verify=verify,
            timeout=timeout,
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.post(path, **kwargs)
        except httpx.HTTPError as exc:
            raise Retry(f"{self.server}{path}: {type(exc).__name__}: {exc}") from None

    async def send(self, payload: bytes) -> Sent:
        """POST one spooled batch (MessagePack ingest body)."""
        response = await self._post(
            INGEST, content=payload, headers={"Content-Type": "application/msgpack"}
        )
        code = response.status_code
        if 200 <= code < 300:
            try:
                body = response.json()
                accepted = body.get("accepted", {})
            except (ValueError, AttributeError):
                raise Retry(f"{code} without an ingest answer: is {self.server} Sentra?") from None
            return Sent(
                int(accepted.get("metrics", 0)) + int(accepted.get("logs", 0)),
                int(body.get("duplicates", 0)),
                len(body.get("rejected", [])),
            )
        if code in _NEVER:
            return Sent(0, 0, rejected=-1)
        hint = " (check the token: it needs the operator role)" if code in (401, 403) else ""
        raise Retry(f"{code}: {_detail(response)}{hint}", _retry_after(response))

    async def heartbeat(self, info: dict[str, Any]) -> None:
        """Tell the server who this agent is and how its spool stands."""
        response = await self._post(HEARTBEAT, json=info)
        if response.status_code >= 300:
            raise Retry(f"heartbeat {response.status_code}: {_detail(response)}")
