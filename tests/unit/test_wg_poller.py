"""The WireGuard poller: counter-delta totals, restarts, endpoint changes, rates, online."""

import asyncio

import msgspec
import pytest

from sentra.bus.memory import MemoryBus
from sentra.store.sqlite.wireguard import WgStore
from sentra.wireguard.apply import CommandFailed
from sentra.wireguard.cache import WgStatusCache
from sentra.wireguard.model import Interface, InterfaceStatus, Peer, PeerStatus
from sentra.wireguard.poller import WgPoller

PUB_A, PUB_B, PUB_C = "A" * 43 + "=", "B" * 43 + "=", "C" * 43 + "="


class FakeDumpReader:
    """Stands in for `wg show all dump` so counters can be set to any value."""

    def __init__(self):
        self.text = ""
        self.fail = False

    async def read(self, netns=""):
        if self.fail:
            raise CommandFailed("wg show all dump did not finish within 10 s")
        return self.text

    def set(self, peers):
        lines = ["swg0\tPRIV=\tPUB=\t51820\toff"]
        for pub, endpoint, hs, rx, tx in peers:
            lines.append(
                f"swg0\t{pub}\t(none)\t{endpoint}\t10.8.0.2/32\t{int(hs)}\t{rx}\t{tx}\toff"
            )
        self.text = "\n".join(lines) + "\n"


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def store(db_target):
    s = WgStore(db_target)
    s.add_interface(
        Interface("swg0", ["10.8.0.1/24"], 51820, "PUB=", "sealed"),
        [
            Peer("pa", "swg0", "a", PUB_A, ["10.8.0.2/32"], [], [], True, None, 0, 0),
            Peer("pb", "swg0", "b", PUB_B, ["10.8.0.3/32"], [], [], True, None, 1, 0),
        ],
    )
    yield s
    s.close()


def poll(poller):
    return asyncio.run(poller.poll_once())


def peers_of(result):
    return {e.peer_id: e for _t, e in result.events if isinstance(e, PeerStatus)}


def test_totals_grow_by_deltas_and_survive_a_counter_reset(store):
    reader, clock = FakeDumpReader(), Clock()
    poller = WgPoller(store, MemoryBus(), reader, clock=clock)
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 1000, 500)])
    assert peers_of(poll(poller))["pa"].rx_total == 1000
    clock.t += 10
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 3000, 1500)])
    a = peers_of(poll(poller))["pa"]
    assert (a.rx_total, a.tx_total) == (3000, 1500)
    assert (a.rx_rate, a.tx_rate) == (200.0, 100.0)
    clock.t += 10  # the interface restarted: its counters began again from zero
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 400, 100)])
    a = peers_of(poll(poller))["pa"]
    assert (a.rx_total, a.tx_total) == (3400, 1600)
    assert a.rx_bytes == 400


def test_totals_survive_a_node_restart(store, db_target):
    reader, clock = FakeDumpReader(), Clock()
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 1000, 10)])
    poll(WgPoller(store, MemoryBus(), reader, clock=clock))
    again = WgStore(db_target)  # a new process reads what the last one stored
    clock.t += 60
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 1500, 20)])
    a = peers_of(poll(WgPoller(again, MemoryBus(), reader, clock=clock)))["pa"]
    assert (a.rx_total, a.tx_total) == (1500, 20)
    again.close()


def test_a_peer_that_leaves_the_interface_counts_from_zero_when_it_returns(store):
    reader, clock = FakeDumpReader(), Clock()
    poller = WgPoller(store, MemoryBus(), reader, clock=clock)
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 5000, 10)])
    poll(poller)
    reader.set([])  # disabled: gone from the interface
    assert peers_of(poll(poller))["pa"].rx_total == 5000
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 6000, 10)])  # back: 6000 new bytes, not 1000
    assert peers_of(poll(poller))["pa"].rx_total == 11000


def test_the_configuration_is_read_again_only_after_a_change(store):
    reader, clock = FakeDumpReader(), Clock()
    poller = WgPoller(store, MemoryBus(), reader, clock=clock)
    reads = []
    load = poller._load
    poller._load = lambda: reads.append(1) or load()  # type: ignore[method-assign]
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 10, 10)])
    poll(poller)
    poll(poller)
    assert len(reads) == 1  # unchanged: the second poll used what it had
    store.add_peer(Peer("pc", "swg0", "c", PUB_C, ["10.8.0.4/32"], [], [], True, None, 2, 0))
    assert "pc" in peers_of(poll(poller))  # a change is seen at the next poll
    assert len(reads) == 2


def test_a_failed_read_reports_the_error_and_keeps_the_counters(store):
    reader, clock = FakeDumpReader(), Clock()
    poller = WgPoller(store, MemoryBus(), reader, clock=clock)
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 5000, 10)])
    poll(poller)
    reader.fail = True
    result = poll(poller)
    (iface,) = [e for _t, e in result.events if isinstance(e, InterfaceStatus)]
    assert not iface.up and "did not finish" in iface.error
    reader.fail = False
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 5100, 10)])
    assert peers_of(poll(poller))["pa"].rx_total == 5100


def test_endpoint_changes_are_recorded(store):
    reader, clock = FakeDumpReader(), Clock()
    poller = WgPoller(store, MemoryBus(), reader, clock=clock)
    for endpoint in ("1.2.3.4:5", "1.2.3.4:5", "198.51.100.9:777"):
        reader.set([(PUB_A, endpoint, clock.t, 1, 1)])
        poll(poller)
        clock.t += 10
    history = store.endpoints("pa")
    assert [(e.endpoint, e.previous) for e in history] == [
        ("198.51.100.9:777", "1.2.3.4:5"),
        ("1.2.3.4:5", None),
    ]


def test_online_means_a_recent_handshake(store):
    reader, clock = FakeDumpReader(), Clock()
    poller = WgPoller(store, MemoryBus(), reader, clock=clock, online_after_s=180)
    reader.set([(PUB_A, "1.2.3.4:5", clock.t - 179, 1, 1), (PUB_B, "(none)", clock.t - 181, 1, 1)])
    got = peers_of(poll(poller))
    assert got["pa"].online and not got["pb"].online
    assert got["pb"].endpoint is None


def test_one_event_per_peer_reaches_the_cache_over_the_bus(store):
    async def run():
        bus = MemoryBus()
        cache = WgStatusCache()
        sub = bus.subscribe("wg.status.>", name="wg")
        task = asyncio.create_task(cache.run(sub))
        reader, clock = FakeDumpReader(), Clock()
        reader.set([(PUB_A, "1.2.3.4:5", clock.t, 7, 8)])
        await WgPoller(store, bus, reader, clock=clock).poll_once()
        while sub.depth():
            await asyncio.sleep(0.001)
        sub.close()
        await task
        return cache

    cache = asyncio.run(run())
    (iface,) = cache.status()["interfaces"]
    assert iface["name"] == "swg0" and iface["up"]
    by_id = {p["id"]: p for p in iface["peers"]}
    assert by_id["pa"]["rx_total"] == 7 and by_id["pa"]["online"]
    assert by_id["pb"]["rx_total"] == 0 and not by_id["pb"]["online"]
    assert b'"rx_total":7' in cache.status_bytes()


def test_the_encoded_status_equals_the_status_document(store):
    reader, clock = FakeDumpReader(), Clock()
    cache = WgStatusCache()
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 7, 8)])
    for _t, event in poll(WgPoller(store, MemoryBus(), reader, clock=clock)).events:
        cache.apply(event)
    assert msgspec.json.decode(cache.status_bytes()) == cache.status()
    cache.forget_peer("pa")
    assert [
        p["id"] for p in msgspec.json.decode(cache.status_bytes())["interfaces"][0]["peers"]
    ] == ["pb"]


def test_wg_status_events_stream_live_as_their_own_kind(store):
    from sentra.live.frames import Entry, topic_kind

    reader, clock = FakeDumpReader(), Clock()
    reader.set([(PUB_A, "1.2.3.4:5", clock.t, 7, 8)])
    topic, event = next(
        (t, e)
        for t, e in poll(WgPoller(store, MemoryBus(), reader, clock=clock)).events
        if isinstance(e, PeerStatus)
    )
    assert topic == "wg.status.swg0" and topic_kind(topic) == "wg"
    item = msgspec.json.decode(Entry("wg", topic, event).full())
    assert item["kind"] == "wg" and item["data"]["rx_total"] == 7 and item["source"] == "swg0"
