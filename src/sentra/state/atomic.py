"""Atomic JSON state files: temp file in the same folder, fsync, rename.

A crash during a write leaves either the previous file or the new one. A reader that finds
a missing or damaged file gets the caller's default and a warning in the log: one bad file
never stops the node.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import msgspec

log = logging.getLogger(__name__)
T = TypeVar("T")


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_json_atomic(path: Path, value: Any, *, mode: int = 0o644) -> None:
    write_bytes_atomic(path, msgspec.json.format(msgspec.json.encode(value)), mode=mode)


def read_json(path: Path, default: T, *, type: type[T] | Any = Any) -> T:
    """Read a JSON state file; on absence or damage return ``default`` (and log why)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return default
    except OSError as exc:
        log.warning("cannot read %s (%s); using defaults", path, exc.strerror)
        return default
    try:
        return msgspec.json.decode(data, type=type)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("state file %s is damaged (%s); using defaults", path, exc)
        return default
