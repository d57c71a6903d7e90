"""Request body limits and a JSON nesting guard, enforced while the body streams in.

``BodyLimits`` is a plain ASGI middleware. Every HTTP request body is held to a limit:
``[server] max_body_bytes`` (1 MiB) in general, ``[ingest] max_body_bytes`` on the ingest
and OTLP routes, which take large batches. A declared ``Content-Length`` over the limit is
refused with 413 before a byte of the body is read; a body without one (chunked) is
counted chunk by chunk and refused the moment it passes the limit. Either way the node
holds at most one limit's worth of body, never the whole upload.

Text bodies (JSON, YAML, or no declared type) are also scanned, chunk by chunk, for
nesting depth: more than ``MAX_DEPTH`` open arrays/objects answers 400 before any parser
sees the body. Every parser here (msgspec, json, PyYAML, pydantic) recurses, and 10,000
levels raise RecursionError deep inside them. The telemetry routes (``LARGE_BODY_PATHS``)
are not scanned: their bodies are read by msgspec alone, which stops at Python's recursion
limit with a RecursionError that the app answers with a 400 problem (api/problems.py, and
tests/integration/test_hardening.py for JSON, gzip and msgpack), and the scan was 7% of
the node's GIL time at 120,000 events/s (bench/ingest_throughput.py).

A refused request gets the problem document from this middleware; the application sees
the body end with ``http.disconnect`` (as if the client went away) and whatever it answers
to that is dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentra.api.problems import Problem, problem_response

MAX_DEPTH = 64
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_LARGE_BODY = 16 * 1024 * 1024
# Routes that take telemetry batches: their limit is [ingest] max_body_bytes.
LARGE_BODY_PATHS = frozenset({"/api/v1/ingest", "/v1/traces", "/v1/metrics", "/v1/logs"})
# Declared types that are binary: a byte 0x5B in protobuf is not a '['.
_BINARY_TYPES = ("protobuf", "msgpack", "octet-stream", "grpc", "multipart")
_SLICE = 1024 * 1024  # bounds the scanner's temporary arrays (~5 bytes per input byte)

# bytes.translate keeps only quotes and brackets; the rest of the text cannot change depth.
_KEEP = b'"[]{}'
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
_QUOTE = ord('"')


class JsonDepthScanner:
    """Tracks the nesting depth of JSON text fed in arbitrary chunks.

    Exact for every well-formed prefix (the only input a recursive parser descends into):
    escaped backslashes and quotes are neutralised first (pairs from the left, as JSON
    reads them; a trailing odd backslash waits for the next chunk), after which every quote
    opens or closes a string and brackets inside strings are ignored. The work per chunk is
    C-speed ``bytes`` operations plus numpy cumulative sums over the quotes and brackets
    only, so a 16 MiB batch costs milliseconds, not a Python loop per byte.
    """

    def __init__(self, limit: int = MAX_DEPTH) -> None:
        self.limit = limit
        self.depth = 0
        self.max_depth = 0
        self._in_string = False
        self._carry = b""

    def feed(self, chunk: bytes) -> bool:
        """Take the next chunk; False once the nesting has gone past the limit."""
        for start in range(0, len(chunk), _SLICE):
            self._feed(chunk[start : start + _SLICE] if len(chunk) > _SLICE else chunk)
            if self.max_depth > self.limit:
                return False
        return True

    def _feed(self, chunk: bytes) -> None:
        data = self._carry + chunk if self._carry else chunk
        self._carry = b""
        if data.endswith(b"\\"):
            run = len(data) - len(data.rstrip(b"\\"))
            if run % 2:  # the last backslash escapes the first byte of the next chunk
                data, self._carry = data[:-1], b"\\"
        if b"\\" in data:
            data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
        # Only quotes and brackets matter. Two adjacent quotes enclose no bracket (or no
        # bracket outside a string) whichever pair they are, so dropping them keeps every
        # other mark's parity: most strings vanish here, before numpy sees anything.
        marks = data.translate(None, _DROP).replace(b'""', b"")
        if not marks:
            return
        if not any(b in marks for b in (b"[", b"]", b"{", b"}")):
            self._in_string ^= bool(marks.count(b'"') & 1)
            return
        arr = np.frombuffer(marks, dtype=np.uint8)
        # Quotes seen up to and including each mark; odd means the mark is inside a string.
        parity = np.cumsum(arr == _QUOTE, dtype=np.int32) & 1
        if self._in_string:
            parity ^= 1
        steps = _STEP[arr]
        steps[parity == 1] = 0
        depths = np.cumsum(steps, dtype=np.int32)
        depths += self.depth
        self.max_depth = max(self.max_depth, int(depths.max()))
        self.depth = int(depths[-1])
        self._in_string = bool(parity[-1])


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (JSON text)."""
    scanner = JsonDepthScanner(limit=1 << 30)
    scanner.feed(body)
    return scanner.max_depth


def check_json_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise a 400 Problem when ``body`` nests deeper than ``limit``; for handlers that
    parse JSON from somewhere other than the request body (the middleware covers that)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    if not JsonDepthScanner(limit).feed(body):
        raise Problem(400, _too_deep(limit))


def _too_deep(limit: int) -> str:
    return f"the body nests arrays/objects more than {limit} levels deep; flatten it"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _is_text(scope: Scope) -> bool:
    encoding = _header(scope, b"content-encoding").strip().lower()
    if encoding not in ("", "identity"):
        return False  # compressed: the handler's parser meets it after gunzip
    ctype = _header(scope, b"content-type").lower()
    return not any(kind in ctype for kind in _BINARY_TYPES)


def _limits(scope: Scope) -> tuple[int, int]:
    """(general limit, ingest/OTLP limit) from the app's settings; defaults without them."""
    ctx: Any = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
    settings = getattr(ctx, "settings", None)
    if settings is None:
        return DEFAULT_MAX_BODY, DEFAULT_MAX_LARGE_BODY
    return int(settings.server.max_body_bytes), int(settings.ingest.max_body_bytes)


class BodyLimits:
    """Refuses bodies over the size limit (413) or nested too deeply (400), while streaming."""

    def __init__(self, app: ASGIApp, *, max_depth: int = MAX_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        general, large = _limits(scope)
        telemetry = scope["path"] in LARGE_BODY_PATHS
        limit = large if telemetry else general
        declared = _header(scope, b"content-length").strip()
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, 413, _too_large(limit, declared))
            return
        # Telemetry bodies: msgspec guards itself (see the module docstring).
        scanner = JsonDepthScanner(self.max_depth) if _is_text(scope) and not telemetry else None
        refusal: tuple[int, str] | None = None
        app_started = False
        received = 0

        async def limited_receive() -> Message:
            nonlocal refusal, received
            if refusal is not None:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                refusal = (413, _too_large(limit, ""))
            elif scanner is not None and chunk and not scanner.feed(chunk):
                refusal = (400, _too_deep(self.max_depth))
            if refusal is not None and not app_started:
                return {"type": "http.disconnect"}  # the app stops reading; we answer
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal app_started
            if refusal is not None and not app_started:
                return  # the app's answer to the disconnect we made up
            if message["type"] == "http.response.start":
                app_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except ClientDisconnect:
            if refusal is None:
                raise
        if refusal is not None and not app_started:
            await self._refuse(scope, receive, send, *refusal)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        # Connection: close: the rest of the body is never read, so the connection cannot
        # carry another request.
        response = problem_response(
            status, detail, instance=scope["path"], headers={"Connection": "close"}
        )
        await response(scope, receive, send)


def _too_large(limit: int, declared: str) -> str:
    size = f"the body is {declared} bytes" if declared else "the body is larger than that"
    return f"{size}; the limit here is {limit} bytes"
