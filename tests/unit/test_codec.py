import numpy as np
import pytest

from sentra.store import codec

T0 = 1_700_000_000_000


def _roundtrip(ts, values):
    t2, v2 = codec.decode(codec.encode(ts, values))
    assert np.array_equal(t2, ts)
    assert np.array_equal(v2, values, equal_nan=True)
    assert v2.view(np.uint64).tolist() == np.asarray(values).view(np.uint64).tolist()


@pytest.mark.parametrize("seed", range(20))
def test_random_columns_round_trip_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 2000))
    ts = T0 + np.sort(rng.integers(0, 10**9, n)).astype(np.int64)
    kind = seed % 5
    if kind == 0:
        values = np.round(rng.uniform(0, 1, n), 3)
    elif kind == 1:
        values = rng.normal(size=n) * 1e6
    elif kind == 2:
        values = np.floor(rng.uniform(0, 2**40, n))
    elif kind == 3:
        values = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300], n)
    else:
        values = np.full(n, -12.5)
    _roundtrip(ts, values)


def test_negative_zero_and_nan_payload_survive():
    values = np.array([-0.0, 0.0, np.nan, 5e-324])
    _roundtrip(T0 + np.arange(4, dtype=np.int64) * 1000, values)


def test_regular_decimal_series_costs_about_a_byte_per_sample():
    n = 600
    rng = np.random.default_rng(7)
    ts = T0 + 1000 * np.arange(n, dtype=np.int64)
    cpu = np.round(np.clip(0.3 + np.cumsum(rng.normal(0, 0.01, n)), 0, 1), 3)
    blob = codec.encode(ts, cpu)
    assert len(blob) / n < 1.5
    assert len(codec.encode(ts, np.full(n, 3.0))) < 60  # a constant costs nearly nothing


def test_memory_in_kib_steps_uses_the_common_divisor():
    n = 600
    rng = np.random.default_rng(3)
    ts = T0 + 1000 * np.arange(n, dtype=np.int64)
    mem = (8 * 2**30 + 1024 * np.cumsum(rng.integers(-200, 200, n))).astype(float)
    assert len(codec.encode(ts, mem)) / n < 2.0
    _roundtrip(ts, mem)


def test_decimal_exponent_is_the_smallest_that_round_trips():
    assert codec.decimal_exponent(np.array([1.0, 2.0])) == 0
    assert codec.decimal_exponent(np.array([1.5, 2.25])) == 2
    assert codec.decimal_exponent(np.array([0.1 + 0.2])) is None
    assert codec.decimal_exponent(np.array([np.nan])) is None


def test_unknown_chunk_version_is_refused():
    blob = bytearray(codec.encode(np.array([T0], dtype=np.int64), np.array([1.0])))
    blob[0] = 99
    with pytest.raises(ValueError, match="version 99"):
        codec.decode(bytes(blob))
