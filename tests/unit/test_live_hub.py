"""The live hub: coalescing, one encoding per distinct filter, drops, slow clients.

Frames are driven with ``add``/``flush(now)`` and fake times; the one test of the real loop
uses a short interval and waits with a deadline.
"""

import asyncio

import msgspec
import pytest

from sentra.bus.memory import MemoryBus
from sentra.config import LiveSettings
from sentra.events import CollectorStatus, Sample, Samples
from sentra.live.filters import from_query
from sentra.live.hub import HubFull, LiveClosed, LiveHub


def _hub(**settings):
    bus = MemoryBus()
    return bus, LiveHub(bus, LiveSettings(**settings), clock=lambda: 1000.0)


def _tick(source="host.cpu", value=0.5, ts=100.0):
    return Samples(source, ts, [Sample("system.cpu.utilization", {"cpu": "total"}, ts, value)])


def _drain(client):
    """Every message waiting for the client, decoded (without waiting)."""

    async def take():
        out = []
        while client.control or client.queue:
            out.append(msgspec.json.decode((await client.next()).data))
        return out

    return asyncio.run(take())


def _frames(client):
    return [m for m in _drain(client) if m["type"] == "frame"]


def test_a_client_gets_hello_with_its_filter_first():
    _, hub = _hub()
    client = hub.register(from_query([("name", "system.*")]), transport="ws")
    (hello,) = _drain(client)
    assert hello["type"] == "hello"
    assert hello["filters"]["name"] == ["system.*"]
    assert hello["frame_interval_ms"] == 25


def test_events_of_one_interval_are_coalesced_into_one_frame():
    _, hub = _hub()
    client = hub.register(from_query([]), transport="ws")
    _drain(client)
    for i in range(5):
        hub.add("metrics.collect.host.cpu", _tick(value=i / 10))
    hub.add("status.collector", CollectorStatus("host.cpu", 100.0, "ok"))
    assert hub.flush(now=50.0) == 1
    (frame,) = _frames(client)
    assert frame["seq"] == 1 and frame["ts"] == 50.0 and frame["dropped"] == 0
    assert [i["kind"] for i in frame["items"]] == ["metrics"] * 5 + ["status"]
    assert hub.flush(now=51.0) == 0  # nothing new: no empty frame


def test_each_distinct_filter_is_encoded_once_and_shared():
    _, hub = _hub()
    a1 = hub.register(from_query([("name", "system.*")]), transport="ws")
    a2 = hub.register(from_query([("name", "system.*")]), transport="sse")
    b = hub.register(from_query([("kinds", "status")]), transport="ws")
    for c in (a1, a2, b):
        _drain(c)
    hub.add("metrics.collect.host.cpu", _tick())
    assert hub.flush(now=1.0) == 1  # the status-only filter had nothing to send
    assert a1.queue[0] is a2.queue[0]  # the same bytes object, not a copy
    assert not b.queue
    hub.add("status.collector", CollectorStatus("host.cpu", 1.0, "ok"))
    hub.add("metrics.collect.host.cpu", _tick())
    assert hub.flush(now=2.0) == 2
    assert hub.stats().frames_total == 3 and hub.stats().filters == 2


def test_events_are_ignored_while_nobody_listens():
    _, hub = _hub()
    hub.add("metrics.collect.host.cpu", _tick())
    client = hub.register(from_query([]), transport="ws")
    assert hub.flush(now=1.0) == 0
    assert _frames(client) == []


def test_a_full_queue_drops_frames_and_the_next_frame_says_how_many():
    _, hub = _hub(client_queue_frames=2)
    slow = hub.register(from_query([]), transport="ws")
    fast = hub.register(from_query([]), transport="ws")
    _drain(slow)
    for t in range(5):
        hub.add("metrics.collect.host.cpu", _tick())
        hub.flush(now=float(t))
        _drain(fast)
    assert slow.depth() == 2 and slow.dropped_total == 3
    assert hub.stats().dropped_frames_total == 3 and hub.stats().queue_depth_max == 2
    assert [f["dropped"] for f in _frames(slow)] == [0, 0]
    hub.add("metrics.collect.host.cpu", _tick())
    hub.flush(now=5.0)
    (frame,) = _frames(slow)
    assert frame["dropped"] == 3 and frame["seq"] == 6
    hub.add("metrics.collect.host.cpu", _tick())
    hub.flush(now=6.0)
    assert _frames(slow)[0]["dropped"] == 0  # reported once


def test_a_client_behind_for_the_timeout_is_closed_with_a_reason_others_carry_on():
    _, hub = _hub(client_queue_frames=2, slow_client_timeout_s=10)
    slow = hub.register(from_query([]), transport="ws")
    other = hub.register(from_query([]), transport="ws")
    for t in range(12):
        hub.add("metrics.collect.host.cpu", _tick())
        hub.flush(now=100.0 + t)  # slow drops from t=2 on, is 10 s behind at t=12
        _drain(other)
    assert slow.closed is None
    hub.add("metrics.collect.host.cpu", _tick())
    hub.flush(now=112.0)
    assert slow.closed is not None
    assert slow.closed.code == 1013 and slow.closed.reason == "too slow: 11 frames dropped"
    with pytest.raises(LiveClosed, match="too slow"):
        asyncio.run(slow.next())
    assert hub.stats().disconnected_slow_total == 1 and hub.stats().clients == 1
    hub.add("metrics.collect.host.cpu", _tick())
    hub.flush(now=113.0)
    assert len(_frames(other)) == 2


def test_a_client_that_catches_up_is_not_closed():
    _, hub = _hub(client_queue_frames=2, slow_client_timeout_s=10)
    client = hub.register(from_query([]), transport="ws")
    for t in range(4):
        hub.add("metrics.collect.host.cpu", _tick())
        hub.flush(now=float(t))
    assert client.behind_since == 2.0
    _drain(client)  # emptied its queue: no longer behind
    assert client.behind_since is None
    for t in range(20, 40):
        hub.add("metrics.collect.host.cpu", _tick())
        hub.flush(now=float(t))
        _drain(client)
    assert client.closed is None


def test_max_clients_refuses_the_next_one():
    _, hub = _hub(max_clients=2)
    hub.register(from_query([]), transport="ws")
    last = hub.register(from_query([]), transport="ws")
    with pytest.raises(HubFull, match="max_clients"):
        hub.register(from_query([]), transport="sse")
    hub.unregister(last)
    hub.register(from_query([]), transport="sse")
    assert hub.stats().refused_total == 1


def test_changing_the_filter_moves_the_client_and_confirms():
    _, hub = _hub()
    client = hub.register(from_query([("kinds", "status")]), transport="ws")
    hub.set_filter(client, from_query([("kinds", "metrics")]))
    msgs = _drain(client)
    assert [m["type"] for m in msgs] == ["hello", "subscribed"]
    assert msgs[1]["filters"]["kinds"] == ["metrics"]
    hub.add("metrics.collect.host.cpu", _tick())
    hub.flush(now=1.0)
    assert len(_frames(client)) == 1 and hub.stats().filters == 1


def test_heartbeat_pings_only_quiet_clients():
    _, hub = _hub()
    quiet = hub.register(from_query([("kinds", "status")]), transport="ws")
    busy = hub.register(from_query([]), transport="ws")
    _drain(quiet), _drain(busy)
    hub.add("metrics.collect.host.cpu", _tick())
    hub.flush(now=1010.0)
    hub.heartbeat(now=1016.0)
    assert [m["type"] for m in _drain(quiet)] == ["ping"]
    assert [m["type"] for m in _drain(busy)] == ["frame"]


def test_the_loop_delivers_published_events_and_stops_cleanly():
    async def scenario():
        bus = MemoryBus()
        hub = LiveHub(bus, LiveSettings(frame_interval_ms=5))
        task = asyncio.get_running_loop().create_task(hub.run())
        client = hub.register(from_query([]), transport="ws")
        assert msgspec.json.decode((await client.next()).data)["type"] == "hello"
        for i in range(3):
            bus.publish("metrics.collect.host.cpu", _tick(value=i))
        seen = 0
        while seen < 3:
            frame = msgspec.json.decode((await asyncio.wait_for(client.next(), 5)).data)
            seen += len(frame["items"])
        hub.close()
        with pytest.raises(LiveClosed) as closed:
            await client.next()
        assert closed.value.code == 1001
        await asyncio.wait_for(task, 5)  # the bus subscription closed: the loop ends
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []

    asyncio.run(scenario())


def test_released_waits_for_every_endpoint_to_finish_its_close():
    async def scenario():
        _, hub = _hub()
        a = hub.register(from_query([]), transport="ws")
        b = hub.register(from_query([]), transport="sse")
        hub.close()
        waiter = asyncio.get_running_loop().create_task(hub.released())
        hub.release(a)
        await asyncio.sleep(0.01)
        assert not waiter.done()  # b's endpoint has not sent its close yet
        hub.release(b)
        await asyncio.wait_for(waiter, 1)

    asyncio.run(scenario())
