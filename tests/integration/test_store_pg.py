"""Several nodes on one PostgreSQL database: stores writing, sealing and reading at once.

Each ``TelemetryStore`` here stands for one node (its own connections, caches and seal
timer) on a real PostgreSQL database; the single-engine behaviour is in test_store.py.
"""

import threading
import time

import psycopg
import pytest

from sentra.events import Sample
from sentra.ingest.model import SampleColumns, series_ref
from sentra.store.sql import migrate
from sentra.store.timeseries import SEAL_LOCK_KEY, TelemetryStore, Tier
from tests.dbtarget import fresh_postgres

T0 = 1_699_999_980.0


@pytest.fixture
def nodes():
    """Opens stores ("nodes") on one fresh migrated PostgreSQL database; closes them after."""
    with fresh_postgres() as target:
        migrate(target)
        opened = []

        def make(**kw):
            kw.setdefault("tiers", [Tier(60, 10), Tier(3600, 100)])
            opened.append(TelemetryStore(target, migrate_schema=False, **kw))
            return opened[-1]

        make.target = target
        yield make
        for store in opened:
            store.close()


def test_two_nodes_writing_and_sealing_at_once_keep_every_sample_exactly_once(nodes):
    a, b = nodes(max_head_rows=10**9), nodes(max_head_rows=10**9)
    refs = [series_ref("app.multi", {"k": str(i)}) for i in range(20)]
    base = time.time() - 3600
    stop = threading.Event()
    written = {"a": 0, "b": 0}
    errors: list[BaseException] = []

    def writer(store, tag, offset):
        try:
            n = 0
            while not stop.is_set() or n < 20:
                ts = [base + offset + (n * 200 + i) / 1000 for i in range(200)]
                store.write(
                    columns=[SampleColumns([refs[i % 20] for i in range(200)], ts, [1.0] * 200)],
                    deferred=True,
                )
                store.write(samples=[Sample("app.multi", {"k": tag}, base + offset + n, 2.0)])
                written[tag] += 201
                n += 1
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [
        threading.Thread(target=writer, args=(a, "a", 0)),
        threading.Thread(target=writer, args=(b, "b", 1800)),
    ]
    for t in threads:
        t.start()
    sealed = {"a": 0, "b": 0}
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and min(sealed.values()) < 3:
        for tag, store in (("a", a), ("b", b)):
            sealed[tag] += store.seal() > 0
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert min(sealed.values()) >= 1, sealed  # both nodes sealed, turn by turn
    total = written["a"] + written["b"]
    for reader in (a, b):
        res = reader.history("app.multi", {}, base - 1, base + 7200, limit=100_000, now=time.time())
        assert sum(len(s.ts) for s in res.series) == total
        assert sum(sum(s.avg) for s in res.series) == pytest.approx(
            total + written["a"] / 201 + written["b"] / 201
        )
    assert len(a.series("app.multi")) == 22  # 20 created by both nodes (one id each) + 2
    chunked = a.stats().raw_samples - a.stats().head_rows
    assert chunked > 0 and chunked + a.stats().head_rows == total


def test_a_node_sees_another_nodes_unsealed_and_sealed_samples_once(nodes):
    a, b = nodes(), nodes()
    a.append([Sample("cpu", {"cpu": "total"}, T0 + i, float(i)) for i in range(60)])
    assert [s.name for s in b.series("cpu")] == ["cpu"]  # created by A, listed by B
    res = b.history("cpu", {}, T0, T0 + 59, now=T0 + 60)
    assert res.series[0].avg == [float(i) for i in range(60)]  # A's head, read by B
    assert b.stats().head_rows == 60
    assert b.seal() == 60  # B seals A's rows
    b.append([Sample("cpu", {"cpu": "total"}, T0 + 60, 60.0)])
    for node in (a, b):
        res = node.history("cpu", {}, T0, T0 + 60, now=T0 + 61)
        assert res.series[0].avg == [float(i) for i in range(61)]
        tier = node.history("cpu", {}, T0, T0 + 60, granularity=60, now=T0 + 61)
        assert [p for s in tier.series for p in s.avg] == [29.5, 60.0]
    assert a.stats().raw_samples == 61 and a.stats().chunks == 1


def test_a_seal_is_skipped_while_another_node_holds_the_seal_lock(nodes):
    a = nodes()
    a.append([Sample("cpu", {}, T0 + i, 1.0) for i in range(10)])
    with psycopg.connect(nodes.target.dsn) as other:  # "another node", mid-seal
        other.execute("SELECT pg_advisory_xact_lock(%s)", (SEAL_LOCK_KEY,))
        assert a.seal(wait=False) == 0
        assert a.stats().head_rows == 10
    assert a.seal() == 10 and a.stats().chunks == 1
