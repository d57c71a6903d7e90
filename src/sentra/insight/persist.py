"""The baselines on disk: ``state/baselines.msgpack``, written atomically, read at start.

MessagePack rather than JSON: a baseline is ~80 floats, and a few thousand of them encode
to a few MB in JSON (slow to fsync every minute) against about half that here. The file is
a ``Snapshot``: the tracked series (identity + detector state) and each host's trends. A
damaged or foreign file is reported (``Restored.state == "damaged"`` and a warning in the
log) and the node starts fresh: one bad file never stops the node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import msgspec

from sentra.analysis.anomaly import Detector
from sentra.analysis.predict import Trend
from sentra.events import Labels
from sentra.state.atomic import write_bytes_atomic

log = logging.getLogger(__name__)
VERSION = 1


class SeriesState(msgspec.Struct):
    name: str
    labels: Labels
    host: str
    detector: Detector


class TrendState(msgspec.Struct):
    kind: str  # disk | memory
    labels: Labels
    trend: Trend


class Snapshot(msgspec.Struct):
    saved_at: float
    series: list[SeriesState]
    trends: dict[str, dict[str, TrendState]]  # host -> key -> trend
    version: int = VERSION


@dataclass(frozen=True)
class Restored:
    """What the start found: ``fresh`` (no file), ``restored`` or ``damaged``."""

    state: str
    series: int = 0
    saved_at: float | None = None
    message: str = ""


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Snapshot)


def encode(snapshot: Snapshot) -> bytes:
    return _ENCODER.encode(snapshot)


def save(path: Path, data: bytes) -> None:
    write_bytes_atomic(path, data, mode=0o600)


def load(path: Path) -> tuple[Snapshot | None, Restored]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, Restored("fresh")
    except OSError as exc:
        msg = f"cannot read {path} ({exc.strerror}); baselines start fresh"
        log.warning("%s", msg)
        return None, Restored("damaged", message=msg)
    try:
        snap = _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        msg = f"{path} is damaged ({exc}); baselines start fresh"
        log.warning("%s", msg)
        return None, Restored("damaged", message=msg)
    if snap.version != VERSION:
        msg = f"{path} has format {snap.version}, this node reads {VERSION}; baselines start fresh"
        log.warning("%s", msg)
        return None, Restored("damaged", message=msg)
    return snap, Restored("restored", series=len(snap.series), saved_at=snap.saved_at)
