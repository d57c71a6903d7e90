"""Live telemetry: WebSocket ``/api/v1/live`` and Server-Sent Events ``/api/v1/stream``.

Both take the same filters as query parameters and send the same JSON messages (see
docs/live.md). Browsers cannot set headers on a WebSocket or an EventSource, so besides
``Authorization: Bearer`` the token may come as ``?access_token=`` or, on a WebSocket, as
the subprotocol ``bearer.<token>``. A refused WebSocket handshake is answered with a real
HTTP problem document (401/403/400/503) where the server supports it, else closed with
code 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from sentra.api.auth import AuthFailure, Principal, authenticate
from sentra.api.problems import Problem, problem_response
from sentra.auth.tokens import role_allows
from sentra.live.filters import FilterError, from_message, from_query
from sentra.live.frames import message
from sentra.live.hub import HubFull, LiveClient, LiveClosed, LiveHub

router = APIRouter(tags=["live"])
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sentra"'}
_BEARER_PROTOCOL = "bearer."
APP_PROTOCOL = "sentra.live.v1"
CLOSE_POLICY = 1008
CLOSE_GRACE_S = 5.0  # how long a peer that is behind gets to take the close message
RECHECK_S = 5.0  # an open stream's token is checked again this often (revocation)
# How a client's tasks normally end: closed by the hub, cancelled, or the peer gone.
_EXPECTED = (asyncio.CancelledError, LiveClosed, OSError, RuntimeError, WebSocketDisconnect)
log = logging.getLogger(__name__)


class _Refusal(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def _hub(app_state: Any) -> LiveHub:
    hub: LiveHub | None = getattr(app_state.ctx, "hub", None)
    if hub is None:
        raise _Refusal(503, "live streaming is not running on this node")
    return hub


def _authenticate(app_state: Any, token: str | None) -> Principal:
    """An API token or a sign-in access token (JWT), as for every other route."""
    if not token:
        raise _Refusal(
            401,
            "live streams need a token: 'Authorization: Bearer <token>', '?access_token=<token>' "
            "or the WebSocket subprotocol 'bearer.<token>'",
            _CHALLENGE,
        )
    try:
        info = authenticate(app_state, token)
    except AuthFailure as exc:
        raise _Refusal(401, exc.detail, _CHALLENGE) from None
    if not role_allows(info.role, "viewer"):
        raise _Refusal(403, f"this needs the viewer role; your token has {info.role}")
    return info


def _header_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _peer(client: Any) -> str:
    return f"{client.host}:{client.port}" if client else ""


# ------------------------------------------------------------------ WebSocket


async def _refuse_ws(websocket: WebSocket, refusal: _Refusal) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            problem_response(
                refusal.status,
                refusal.detail,
                instance=websocket.url.path,
                headers=refusal.headers,
            )
        )
    else:  # pragma: no cover - servers without the denial-response extension
        await websocket.close(CLOSE_POLICY, refusal.detail[:120])


async def _ws_sender(websocket: WebSocket, client: LiveClient) -> None:
    """Sends the client's messages in order until the hub closes the client."""
    while True:
        out = await client.next()
        await websocket.send({"type": "websocket.send", "text": out.text})


async def _ws_receiver(websocket: WebSocket, hub: LiveHub, client: LiveClient) -> None:
    """Reads subscribe messages until the peer disconnects."""
    while True:
        raw = await websocket.receive()
        if raw["type"] == "websocket.disconnect":
            return
        _handle_ws_message(hub, client, raw)


async def _recheck(app_state: Any, token: str, client: LiveClient) -> None:
    """Closes the client (1008) once its token is revoked or expires."""
    while True:
        await asyncio.sleep(RECHECK_S)
        try:
            authenticate(app_state, token)  # a revoked token, ended sign-in or expired JWT
        except AuthFailure:
            client.close("the token is no longer valid", CLOSE_POLICY)
            return


async def _serve(client: LiveClient, *work: Coroutine[Any, Any, None]) -> bool:
    """Runs the client's sender and reader until one ends or the hub closes the client.

    Returns True when the hub closed it (the caller then says why). Every task is cancelled
    and awaited here, including a sender stuck writing to a peer that does not read.
    """
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(w) for w in work]
    closed = loop.create_task(client.wait_closed())
    try:
        await asyncio.wait([*tasks, closed], return_when=asyncio.FIRST_COMPLETED)
    finally:
        by_hub = closed.done() or client.closed is not None
        for task in (*tasks, closed):
            task.cancel()
        results = await asyncio.gather(*tasks, closed, return_exceptions=True)
    for res in results:
        if isinstance(res, BaseException) and not isinstance(res, _EXPECTED):
            log.error("live client %s failed", client.id, exc_info=res)
    return by_hub


def _handle_ws_message(hub: LiveHub, client: LiveClient, raw: Mapping[str, Any]) -> None:
    text = raw.get("text")
    if text is None and raw.get("bytes") is not None:
        text = raw["bytes"].decode("utf-8", "replace")
    try:
        msg = json.loads(text or "")
    except ValueError:
        client.send_control(_error("messages must be JSON objects"), hub.clock())
        return
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "subscribe":
        try:
            filt = from_message(msg)
        except FilterError as exc:
            client.send_control(_error(str(exc)), hub.clock())
            return
        hub.set_filter(client, filt)
    elif kind != "pong":
        client.send_control(
            _error(f"unknown message type {kind!r}; send 'subscribe' or 'pong'"), hub.clock()
        )


def _error(detail: str) -> bytes:
    return message("error", detail=detail)


@router.websocket("/api/v1/live")
async def live_socket(websocket: WebSocket) -> None:
    """Live frames over a WebSocket (text messages, JSON)."""
    offered: list[str] = list(websocket.scope.get("subprotocols", []))
    proto_token = next(
        (p[len(_BEARER_PROTOCOL) :] for p in offered if p.startswith(_BEARER_PROTOCOL)), None
    )
    token = (
        _header_token(websocket.headers.get("authorization", ""))
        or websocket.query_params.get("access_token")
        or proto_token
    )
    try:
        hub = _hub(websocket.app.state)
        _authenticate(websocket.app.state, token)
        filt = from_query(websocket.query_params.multi_items())
        client = hub.register(filt, transport="ws", peer=_peer(websocket.client))
    except FilterError as exc:
        await _refuse_ws(websocket, _Refusal(400, str(exc)))
        return
    except HubFull as exc:
        await _refuse_ws(websocket, _Refusal(503, str(exc), {"Retry-After": "5"}))
        return
    except _Refusal as refusal:
        await _refuse_ws(websocket, refusal)
        return
    # A browser that offered subprotocols needs one of them echoed back.
    chosen = APP_PROTOCOL if APP_PROTOCOL in offered else None
    if chosen is None and offered:
        chosen = next((p for p in offered if p.startswith(_BEARER_PROTOCOL)), None)
    try:
        await websocket.accept(subprotocol=chosen)
        by_hub = await _serve(
            client,
            _ws_sender(websocket, client),
            _ws_receiver(websocket, hub, client),
            _recheck(websocket.app.state, token or "", client),
        )
    except BaseException:
        hub.release(client)
        raise
    hub.unregister(client)
    try:
        if by_hub and client.closed is not None:
            # Wait a little for a peer that is behind to take the close frame, then give up.
            with contextlib.suppress(*_EXPECTED, TimeoutError):
                await asyncio.wait_for(
                    websocket.close(client.closed.code, client.closed.reason), CLOSE_GRACE_S
                )
    finally:
        hub.release(client)


# ------------------------------------------------------------------------ SSE


class EventStream(StreamingResponse):
    """``text/event-stream`` of a live client; ends when the client or the hub goes."""

    def __init__(self, hub: LiveHub, client: LiveClient, app_state: Any, token: str) -> None:
        super().__init__(
            iter(()),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.hub = hub
        self.client = client
        self.app_state = app_state
        self.token = token

    @staticmethod
    async def _listen(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _pump(self, send: Send) -> None:
        while True:
            data = (await self.client.next()).data
            if data.startswith(b'{"type":"ping"'):
                await send(_chunk(b": ping\n\n"))
            else:
                await send(_chunk(b"data: " + data + b"\n\n"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.client
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            recheck = _recheck(self.app_state, self.token, client)
            by_hub = await _serve(client, self._pump(send), self._listen(receive), recheck)
            closed = client.closed
            with contextlib.suppress(*_EXPECTED, TimeoutError):
                if by_hub and closed is not None:
                    body = message("close", code=closed.code, reason=closed.reason)
                    await asyncio.wait_for(
                        send(_chunk(b"event: close\ndata: " + body + b"\n\n")), CLOSE_GRACE_S
                    )
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": b"", "more_body": False}),
                    CLOSE_GRACE_S,
                )
        except OSError:
            pass  # the peer went away
        finally:
            self.hub.release(client)


def _chunk(body: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": True}


@router.get(
    "/api/v1/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_stream(request: Request) -> EventStream:
    """Live frames as Server-Sent Events (``data:`` lines, same JSON as the WebSocket)."""
    token = _header_token(request.headers.get("authorization", "")) or request.query_params.get(
        "access_token"
    )
    try:
        hub = _hub(request.app.state)
        _authenticate(request.app.state, token)
        filt = from_query(request.query_params.multi_items())
        client = hub.register(filt, transport="sse", peer=_peer(request.client))
    except FilterError as exc:
        raise Problem(400, str(exc)) from None
    except HubFull as exc:
        raise Problem(503, str(exc), headers={"Retry-After": "5"}) from None
    except _Refusal as refusal:
        raise Problem(refusal.status, refusal.detail, headers=refusal.headers) from None
    return EventStream(hub, client, request.app.state, token or "")
