"""Reading request bodies with a size limit and optional gzip, for ingest and OTLP."""

from __future__ import annotations

import zlib

from fastapi import Request

from sentra.api.problems import Problem


async def read_body(request: Request, limit: int) -> bytes:
    """The body, gunzipped when Content-Encoding says so; 413 past ``limit`` bytes (checked
    while reading, so a huge body is refused without being held in memory)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise Problem(415, f"Content-Encoding {encoding!r} is not supported; use gzip")
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Problem(400, f"the body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise Problem(413, f"the body is larger than {limit} bytes once decompressed")
    return out
