"""The NATS JetStream bus against the real server on 127.0.0.1:4222 (and a private one for
the outage test): same routing as the in-process bus, groups, redelivery, outages.

Every test uses a stream prefix of its own and deletes its streams afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import websockets

from sentra.bus.base import topic_matches
from sentra.bus.memory import MemoryBus
from sentra.bus.nats import ID_HEADER, TYPE_HEADER, NatsBus
from sentra.config import BusSettings
from sentra.events import CollectorStatus, Sample, Samples
from tests.nodeproc import NodeProcess, create_token, free_port, wait_for

NATS_URL = "nats://127.0.0.1:4222"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _nats_missing() -> str:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=2).close()
    except OSError as exc:
        return f"no NATS server at 127.0.0.1:4222 ({exc}); .ci/services starts one"
    if not Path(NATS_SERVER).exists():
        return "nats-server is not installed (apt-get install nats-server)"
    return ""


if (_why := _nats_missing()) and os.environ.get("TEST_REQUIRE_NATS") == "1":
    raise RuntimeError(f"TEST_REQUIRE_NATS=1 but {_why}")
pytestmark = pytest.mark.skipif(bool(_why), reason=_why or "NATS is up")


def _status(i: int, source: str = "x") -> CollectorStatus:
    return CollectorStatus(source=source, ts=float(i), state="ok")


def _settings(prefix: str, url: str = NATS_URL, **kw: Any) -> BusSettings:
    return BusSettings(backend="nats", nats_url=url, stream_prefix=prefix, **kw)


async def _drop_streams(prefix: str, url: str = NATS_URL) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for name in NatsBus(_settings(prefix, url)).stream_names():
        with suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(name)
    await nc.close()


@asynccontextmanager
async def _nats_buses(n: int = 1, **kw: Any) -> AsyncIterator[list[NatsBus]]:
    """``n`` connected buses sharing one fresh prefix (n nodes of one deployment)."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    buses = [NatsBus(_settings(prefix, **kw), client_name=f"test-{i}") for i in range(n)]
    try:
        yield buses
    finally:
        for bus in buses:
            await bus.close()
        await _drop_streams(prefix)


async def _until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout} s")


@asynccontextmanager
async def _bus(backend: str) -> AsyncIterator[MemoryBus | NatsBus]:
    if backend == "memory":
        bus = MemoryBus()
        yield bus
        await bus.close()
        return
    async with _nats_buses() as (nbus,):
        yield nbus


async def _connect(bus: MemoryBus | NatsBus) -> None:
    if isinstance(bus, NatsBus):
        await bus.connect()


BACKENDS = pytest.mark.parametrize("backend", ["memory", "nats"])
PATTERNS = ["status.*", "metrics.>", ">", "metrics.*", "*.collector", "wg.status.>", "logs.a.b"]
TOPICS = [
    "status.collector",
    "metrics.host",
    "metrics.host.cpu",
    "metrics.collect.gpu",
    "logs.a.b",
    "logs.a",
    "wg.status.wg0",
    "rollout.state.web",
]


@BACKENDS
def test_wildcard_routing_is_the_same_on_both_backends(backend):
    async def main():
        async with _bus(backend) as bus:
            subs = {p: bus.subscribe(p, name=p, maxsize=100) for p in PATTERNS}
            await _connect(bus)
            for i, topic in enumerate(TOPICS):
                bus.publish(topic, _status(i, source=topic))
            want = {p: [t for t in TOPICS if topic_matches(p, t)] for p in PATTERNS}
            await _until(lambda: all(subs[p].depth() >= len(want[p]) for p in PATTERNS))
            await asyncio.sleep(0.2)  # nothing more arrives
            for p, sub in subs.items():
                got = []
                while (item := sub.get_nowait()) is not None:
                    topic, event = item
                    assert isinstance(event, CollectorStatus) and event.source == topic
                    got.append(topic)
                assert sorted(got) == sorted(want[p]), p

    asyncio.run(main())


@BACKENDS
def test_subscribers_get_only_matching_topics(backend):
    async def main():
        async with _bus(backend) as bus:
            await _connect(bus)
            a = bus.subscribe("status.*", name="a")
            b = bus.subscribe("metrics.>", name="b")
            bus.publish("status.collector", _status(1))
            assert (await asyncio.wait_for(a.get(), 10))[0] == "status.collector"
            await asyncio.sleep(0.1)
            assert b.depth() == 0
            await bus.close()
            assert await a.get() is None

    asyncio.run(main())


@BACKENDS
def test_a_full_queue_drops_the_oldest_and_counts(backend):
    async def main():
        async with _bus(backend) as bus:
            slow = bus.subscribe(">", name="slow", maxsize=3)
            fast = bus.subscribe(">", name="fast", maxsize=100)
            await _connect(bus)
            for i in range(10):
                bus.publish("status.collector", _status(i))
            await _until(lambda: fast.depth() == 10)
            assert slow.dropped == 7
            got = [(await slow.get())[1].ts for _ in range(3)]
            assert got == [7.0, 8.0, 9.0]
            assert fast.depth() == 10 and fast.dropped == 0

    asyncio.run(main())


def test_events_cross_nodes_with_their_content_intact():
    async def main():
        async with _nats_buses(2) as (producer, consumer):
            sub = consumer.subscribe("metrics.collect.>", name="live")
            await producer.connect()
            await consumer.connect()
            ev = Samples("host.cpu", 1.5, [Sample("cpu", {"cpu": "total"}, 1.25, 0.5)])
            producer.publish("metrics.collect.host.cpu", ev)
            topic, got = await asyncio.wait_for(sub.get(), 10)
            assert topic == "metrics.collect.host.cpu" and got == ev
            await _until(lambda: producer.sent == 1)

    asyncio.run(main())


def test_a_group_splits_the_events_between_its_members_and_loses_none():
    async def main():
        async with _nats_buses(3) as (producer, node_a, node_b):
            members = [
                bus.subscribe("metrics.collect.>", name="store", maxsize=5, group="store")
                for bus in (node_a, node_b)
            ]
            live = node_a.subscribe("metrics.collect.>", name="live", maxsize=1000)
            for bus in (producer, node_a, node_b):
                await bus.connect()
            got: list[list[float]] = [[], []]

            async def consume(i: int) -> None:
                async for _topic, event in members[i]:
                    got[i].append(event.ts)
                    await asyncio.sleep(0.002)  # the store writer's work

            tasks = [asyncio.create_task(consume(i)) for i in range(2)]
            for i in range(300):
                producer.publish(f"metrics.collect.host{i % 3}", Samples("h", float(i), []))
            await _until(lambda: len(got[0]) + len(got[1]) >= 300, timeout=30)
            await asyncio.sleep(0.3)
            for t in tasks:
                t.cancel()
            assert sorted(got[0] + got[1]) == [float(i) for i in range(300)]  # each once
            assert min(len(got[0]), len(got[1])) >= 30, (len(got[0]), len(got[1]))
            assert live.depth() == 300  # without a group, a node gets every event

    asyncio.run(main())


def test_an_event_whose_member_died_unconfirmed_goes_to_another_member():
    async def main():
        async with _nats_buses(3, ack_wait_s=1.0) as (producer, doomed, survivor):
            dying = doomed.subscribe("rollout.>", name="c", maxsize=10, group="controller")
            for bus in (producer, doomed):
                await bus.connect()
            for i in range(5):
                producer.publish("rollout.state.web", _status(i))
            first = await asyncio.wait_for(dying.get(), 10)
            assert first[1].ts == 0.0
            await doomed._nc.close()  # the node dies: no ack, no nak, nothing
            later = survivor.subscribe("rollout.>", name="c", maxsize=10, group="controller")
            await survivor.connect()
            seen = [(await asyncio.wait_for(later.get(), 15))[1].ts for _ in range(5)]
            assert sorted(seen) == [0.0, 1.0, 2.0, 3.0, 4.0]

    asyncio.run(main())


def test_a_redelivery_of_an_event_being_handled_here_is_not_handed_out_twice():
    async def main():
        async with _nats_buses(2, ack_wait_s=1.0) as (producer, node):
            slow = node.subscribe("rollout.>", name="c1", maxsize=10, group="controller")
            other = node.subscribe("rollout.>", name="c2", maxsize=10, group="controller")
            await producer.connect()
            await node.connect()
            producer.publish("rollout.state.web", _status(1))
            got = await asyncio.wait_for(_first(slow, other), 10)
            holder, idle = (slow, other) if got is slow else (other, slow)
            await _until(lambda: node.redelivered_skipped >= 1)  # past ack_wait: again
            await asyncio.sleep(0.5)
            assert idle.depth() == 0 and holder.depth() == 0
            holder.ack()  # the handler is done
            await asyncio.sleep(1.5)
            assert idle.depth() == 0 and holder.depth() == 0

    async def _first(*subs):
        while True:
            for s in subs:
                if s.get_nowait() is not None:
                    return s
            await asyncio.sleep(0.01)

    asyncio.run(main())


def test_a_confirmed_event_that_comes_back_is_skipped():
    """The ack of a handled event was lost (the server sends it again): skipped."""

    async def main():
        async with _nats_buses(2, ack_wait_s=1.0) as (producer, node):
            member = node.subscribe("rollout.>", name="c", maxsize=10, group="controller")
            await producer.connect()
            await node.connect()
            producer.publish("rollout.state.web", _status(1))
            item = await asyncio.wait_for(member.get(), 10)
            assert item[1].ts == 1.0
            node._later = lambda coro: coro.close()  # this one ack gets lost on the way
            member.ack()
            del node._later
            await _until(lambda: node.redelivered_skipped == 1, timeout=10)
            assert member.depth() == 0

    asyncio.run(main())


def test_the_stream_drops_a_resent_event_with_the_same_id():
    async def main():
        async with _nats_buses(1) as (bus,):
            sub = bus.subscribe("status.>", name="g", maxsize=10, group="status")
            await bus.connect()
            nc = await nats.connect(NATS_URL)
            js = nc.jetstream()
            _, data = bus._codec.encode(_status(7))
            hdr = {ID_HEADER: "same-id", TYPE_HEADER: "CollectorStatus"}
            first = await js.publish(f"{bus.prefix}.status.collector", data, headers=hdr)
            again = await js.publish(f"{bus.prefix}.status.collector", data, headers=hdr)
            await nc.close()
            assert again.duplicate and again.seq == first.seq
            assert (await asyncio.wait_for(sub.get(), 10))[1].ts == 7.0
            await asyncio.sleep(0.5)
            assert sub.depth() == 0

    asyncio.run(main())


def test_publishing_while_nats_is_down_does_not_block_and_counts_the_drops(tmp_path):
    port = free_port()
    argv = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path)]

    def server() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        return proc

    async def main(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        url = f"nats://127.0.0.1:{port}"
        bus = NatsBus(_settings("down", url, outbox_size=50))
        sub = bus.subscribe("status.>", name="store", maxsize=500, group="store")
        await bus.connect()
        bus.publish("status.collector", _status(-1))
        assert (await asyncio.wait_for(sub.get(), 10))[1].ts == -1.0
        proc.terminate()
        proc.wait(10)
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        for i in range(200):
            bus.publish("status.collector", _status(i))
        assert time.perf_counter() - started < 0.05  # never waits for the network
        assert bus.dropped >= 150 and bus.depth() <= 50
        proc = server()  # back, with its stored streams
        ts = set()
        while len(ts) < 50:
            item = await asyncio.wait_for(sub.get(), 20)
            ts.add(item[1].ts)
        assert ts == {float(i) for i in range(150, 200)}  # the newest 50, each once
        await bus.close()
        return proc

    proc = server()
    try:
        proc = asyncio.run(main(proc))
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_subscription_made_before_connect_gets_what_is_published_after(tmp_path: Path):
    async def main():
        async with _nats_buses(1) as (bus,):
            sub = bus.subscribe("metrics.collect.>", name="store", group="store")
            live = bus.subscribe(">", name="hub")
            bus.publish("metrics.collect.host", _status(1))  # before connect: kept in the outbox
            await bus.connect()
            assert (await asyncio.wait_for(sub.get(), 10))[1].ts == 1.0
            assert (await asyncio.wait_for(live.get(), 10))[1].ts == 1.0

    asyncio.run(main())


def test_a_node_on_the_nats_bus_stores_what_it_collects_and_streams_it_live(tmp_path):
    prefix = f"tnode{uuid.uuid4().hex[:8]}"
    env = {"SENTRA_BUS_BACKEND": "nats", "SENTRA_BUS_NATS_URL": NATS_URL}
    env["SENTRA_BUS_STREAM_PREFIX"] = prefix
    node = NodeProcess(tmp_path, env=env).start()
    try:
        token = create_token(tmp_path)
        headers = {"Authorization": f"Bearer {token}"}

        def stored():
            r = httpx.get(
                f"{node.url}/api/v1/history",
                headers=headers,
                params={"name": "system.cpu.utilization", "labels": "cpu=total"},
                timeout=10,
            )
            return r.status_code == 200 and len(r.json()["series"][0]["points"]) >= 3

        wait_for(stored, timeout=30)

        async def live_and_on_nats():
            watcher = NatsBus(_settings(prefix))
            ticks = watcher.subscribe("metrics.collect.host.>", name="watcher", maxsize=1000)
            await watcher.connect()
            try:  # the node's ticks travel through NATS: another process sees them
                topic, event = await asyncio.wait_for(ticks.get(), 10)
                assert topic.startswith("metrics.collect.host.") and isinstance(event, Samples)
            finally:
                await watcher.close()
            url = node.url.replace("http://", "ws://") + "/api/v1/live"
            async with websockets.connect(url, additional_headers=headers) as ws:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    if msg["type"] == "frame" and any(i["kind"] == "metrics" for i in msg["items"]):
                        return
                raise AssertionError("no live metrics frame")

        asyncio.run(live_and_on_nats())
    finally:
        code = node.stop()
        asyncio.run(_drop_streams(prefix))
    assert code == 0, node.output


def test_a_node_without_its_nats_server_refuses_to_start_and_says_why(tmp_path):
    url = f"nats://127.0.0.1:{free_port()}"
    env = {"SENTRA_BUS_BACKEND": "nats", "SENTRA_BUS_NATS_URL": url}
    node = NodeProcess(tmp_path, env=env)
    with pytest.raises(RuntimeError, match="cannot use NATS JetStream"):
        node.start()
    assert node.proc is not None and node.proc.wait(10) == 1
    node.proc.stdout.close()  # type: ignore[union-attr]
