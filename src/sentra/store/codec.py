"""Compressed chunks of one series: timestamps and values, column by column.

Timestamps (integer ms) are stored as a start and a constant step when the spacing is
regular (the sampling loop aligns its ticks, so host series almost always are), otherwise
as zig-zag deltas in the narrowest integer width that fits.

Values use decimal scaling, after ALP (Afroozeh, Kuffó, Boncz, SIGMOD 2023): most telemetry
is a decimal with few digits (``12.5`` %, ``3.25`` load, whole bytes), so the smallest
exponent ``e`` for which every ``v * 10**e`` is an integer that round-trips exactly turns the
column into integers, which are delta-coded the same way. Columns that do not scale (NaN,
many digits) fall back to the XOR of consecutive IEEE-754 words, byte-transposed. The body
is then deflated. Encoding is lossless: decode(encode(x)) == x bit for bit.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

VERSION = 1
_HEADER = struct.Struct("<BBBBIq")  # version, ts mode, value mode, exponent, n, t0
_TS_CONST, _TS_DELTA = 0, 1
_V_DECIMAL, _V_XOR = 0, 1
_MAX_EXP = 9
_POW10 = np.array([10.0**e for e in range(_MAX_EXP + 1)])
_LIMIT = float(2**52)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _zigzag(x: I64) -> npt.NDArray[np.uint64]:
    return ((x << 1) ^ (x >> 63)).astype(np.uint64)


def _unzigzag(z: npt.NDArray[np.uint64]) -> I64:
    return ((z >> np.uint64(1)).astype(np.int64)) ^ -((z & np.uint64(1)).astype(np.int64))


_WIDTH = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}


def _pack_ints(x: I64) -> bytes:
    """Deltas of ``x`` after the first, divided by their common divisor (memory counts
    come in KiB, clocks in MHz steps), zig-zagged, in the narrowest width that fits."""
    first = int(x[0]) if x.size else 0
    deltas = np.diff(x)
    gcd = int(np.gcd.reduce(deltas)) if deltas.size else 0
    if gcd > 1:
        deltas = deltas // gcd
    z = _zigzag(deltas)
    top = int(z.max()) if z.size else 0
    width = 1 if top < 2**8 else 2 if top < 2**16 else 4 if top < 2**32 else 8
    return struct.pack("<Bqq", width, first, max(gcd, 1)) + z.astype(_WIDTH[width]).tobytes()


def _unpack_ints(buf: bytes, n: int) -> tuple[I64, int]:
    width, first, gcd = struct.unpack_from("<Bqq", buf)
    z = np.frombuffer(buf, dtype=_WIDTH[width], count=max(n - 1, 0), offset=17)
    deltas = _unzigzag(z.astype(np.uint64)) * gcd
    out = np.empty(n, dtype=np.int64)
    if n:
        out[0] = first
        np.cumsum(deltas, out=out[1:])
        out[1:] += first
    return out, 17 + max(n - 1, 0) * width


def decimal_exponent(values: F64) -> int | None:
    """Smallest e such that every value times 10**e is an integer that round-trips exactly."""
    if not np.isfinite(values).all():
        return None
    for e in range(_MAX_EXP + 1):
        scaled = np.rint(values * _POW10[e])
        if np.abs(scaled).max(initial=0.0) >= _LIMIT:
            return None
        if np.array_equal(scaled / _POW10[e], values):
            return e
    return None


def encode(ts_ms: I64, values: F64, *, level: int = 6) -> bytes:
    n = int(ts_ms.size)
    if n != values.size:
        raise ValueError("timestamps and values differ in length")
    t0 = int(ts_ms[0]) if n else 0
    parts: list[bytes] = []
    steps = np.diff(ts_ms)
    if n <= 1 or (steps == steps[0]).all():
        ts_mode = _TS_CONST
        parts.append(struct.pack("<q", int(steps[0]) if n > 1 else 0))
    else:
        ts_mode = _TS_DELTA
        parts.append(_pack_ints(ts_ms - t0))
    exp = decimal_exponent(values)
    if exp is not None:
        v_mode = _V_DECIMAL
        parts.append(_pack_ints(np.rint(values * _POW10[exp]).astype(np.int64)))
    else:
        v_mode, exp = _V_XOR, 0
        bits = np.ascontiguousarray(values, dtype="<f8").view("<u8")
        xored = bits ^ np.concatenate(([np.uint64(0)], bits[:-1]))
        parts.append(xored.view(np.uint8).reshape(n, 8).T.tobytes())
    body = zlib.compress(b"".join(parts), level)
    return _HEADER.pack(VERSION, ts_mode, v_mode, exp, n, t0) + body


def decode(blob: bytes) -> tuple[I64, F64]:
    version, ts_mode, v_mode, exp, n, t0 = _HEADER.unpack_from(blob)
    if version != VERSION:
        raise ValueError(f"chunk version {version} is not supported")
    body = zlib.decompress(blob[_HEADER.size :])
    if ts_mode == _TS_CONST:
        (step,) = struct.unpack_from("<q", body)
        ts = t0 + step * np.arange(n, dtype=np.int64)
        off = 8
    else:
        rel, off = _unpack_ints(body, n)
        ts = rel + t0
    if v_mode == _V_DECIMAL:
        ints, _ = _unpack_ints(body[off:], n)
        values = ints / _POW10[exp]
    else:
        shuffled = np.frombuffer(body, dtype=np.uint8, count=8 * n, offset=off)
        xored = shuffled.reshape(8, n).T.copy().view("<u8").ravel()
        values = np.bitwise_xor.accumulate(xored).view("<f8")
    return ts, values.astype(np.float64, copy=False)
