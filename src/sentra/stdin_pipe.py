"""Bytes for a child process's stdin through an OS pipe of our own.

The loop's own ``stdin=PIPE`` is a pipe under asyncio but a *socket* under uvloop, and a
program that opens ``/dev/stdin`` by name (``wg setconf IFACE /dev/stdin``, ``jq .
/dev/stdin``) cannot ``fopen()`` a socket (ENXIO). A real pipe works under both loops; a
worker thread feeds it, since the data may be larger than a pipe's buffer (a 1,000-peer
WireGuard config is ~200 KB), and nothing is ever written to a file.
"""

from __future__ import annotations

import asyncio
import os
import subprocess


class StdinPipe:
    """Usage: ``feed = StdinPipe(data)``; pass ``feed.child_end`` as ``stdin=`` to
    ``create_subprocess_exec``; then ``feed.started()`` once the child exists (or
    ``feed.abandon()`` when it could not start); ``await feed.done()`` after it ends."""

    def __init__(self, data: bytes | None) -> None:
        self._data = data
        self._r, self._w = os.pipe() if data is not None else (-1, -1)
        self._feeder: asyncio.Future[None] | None = None

    @property
    def child_end(self) -> int:
        return self._r if self._data is not None else subprocess.DEVNULL

    def started(self) -> None:
        if self._data is None:
            return
        os.close(self._r)
        self._feeder = asyncio.ensure_future(asyncio.to_thread(_feed, self._w, self._data))

    def abandon(self) -> None:
        for fd in (self._r, self._w):
            if fd >= 0:
                os.close(fd)
        self._r = self._w = -1

    async def done(self) -> None:
        """Wait for the feeder (it ends once the child has read all or closed its end)."""
        if self._feeder is not None:
            await asyncio.shield(self._feeder)


def _feed(fd: int, data: bytes) -> None:
    """Write ``data`` into the pipe and close it; a child that exits without reading all of
    it is not an error here (its exit status says what happened)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)
