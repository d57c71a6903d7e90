"""Run a program from an argv list, off the event loop, with a timeout (never a shell).

Shared by the command and nginx actuators and by command hooks. A program that outlives its
timeout is killed (and reaped) so that nothing is left behind; its output so far is kept for
the error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sentra.stdin_pipe import StdinPipe


@dataclass(frozen=True)
class ProcessResult:
    """How a program ended: exit code (None when killed at the timeout) and its output."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def stderr_tail(self, lines: int = 5) -> str:
        """The last lines of stderr (or stdout when stderr is empty), for error messages."""
        text = (self.stderr or self.stdout).decode("utf-8", "replace").strip()
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        """``'/bin/x' exited with 3: <tail>`` or ``... timed out after``, in words."""
        what = f"{self.argv[0]!r}"
        if self.timed_out:
            head = f"{what} timed out and was killed"
        else:
            head = f"{what} exited with {self.returncode}"
        tail = self.stderr_tail()
        return f"{head}: {tail}" if tail else head


class ProgramNotFound(Exception):
    """The program of an argv cannot be started (missing, not executable)."""


async def run_argv(
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdin: bytes | None = None,
) -> ProcessResult:
    """Run ``argv`` with ``env`` added to this process's environment; kill it at ``timeout_s``.

    Raises ProgramNotFound when the program cannot be started at all.
    """
    full_env = {**os.environ, **(env or {})}
    feed = StdinPipe(stdin)  # a real pipe: a program may open /dev/stdin by name
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=feed.child_end,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # a timeout kills the program's whole process group
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        feed.abandon()
        raise ProgramNotFound(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    except BaseException:
        feed.abandon()
        raise
    feed.started()
    try:
        return await _wait(proc, argv, timeout_s)
    finally:
        await feed.done()


async def _wait(
    proc: asyncio.subprocess.Process, argv: Sequence[str], timeout_s: float
) -> ProcessResult:
    communicate = asyncio.ensure_future(proc.communicate())
    try:
        stdout, stderr = await asyncio.wait_for(asyncio.shield(communicate), timeout_s)
    except TimeoutError:
        _kill_group(proc)
        with contextlib.suppress(Exception):
            stdout, stderr = await asyncio.wait_for(communicate, 5.0)
            return ProcessResult(tuple(argv), None, stdout, stderr, timed_out=True)
        return ProcessResult(tuple(argv), None, b"", b"", timed_out=True)
    except BaseException:
        _kill_group(proc)
        communicate.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(proc.wait(), 5.0)
        raise
    return ProcessResult(tuple(argv), proc.returncode, stdout, stderr)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
