import asyncio

from sentra.bus.base import topic_matches
from sentra.bus.memory import MemoryBus
from sentra.events import CollectorStatus


def _status(i: int) -> CollectorStatus:
    return CollectorStatus(source="x", ts=float(i), state="ok")


def test_patterns_match_like_nats():
    assert topic_matches("metrics.*", "metrics.host")
    assert not topic_matches("metrics.*", "metrics.host.cpu")
    assert topic_matches("metrics.>", "metrics.host.cpu")
    assert not topic_matches("metrics.>", "metrics")
    assert topic_matches(">", "status.collector")
    assert not topic_matches("status.collector", "status.other")


def test_subscribers_get_only_matching_topics():
    async def main():
        bus = MemoryBus()
        a = bus.subscribe("status.*", name="a")
        b = bus.subscribe("metrics.>", name="b")
        bus.publish("status.collector", _status(1))
        assert (await a.get())[0] == "status.collector"
        assert b.depth() == 0
        await bus.close()
        assert await a.get() is None

    asyncio.run(main())


def test_a_full_queue_drops_the_oldest_and_counts():
    async def main():
        bus = MemoryBus()
        slow = bus.subscribe(">", name="slow", maxsize=3)
        fast = bus.subscribe(">", name="fast", maxsize=100)
        for i in range(10):
            bus.publish("status.collector", _status(i))
        assert slow.dropped == 7
        got = [(await slow.get())[1].ts for _ in range(3)]
        assert got == [7.0, 8.0, 9.0]
        assert fast.depth() == 10 and fast.dropped == 0

    asyncio.run(main())


def test_nats_urls_lose_their_credentials_in_logs_and_errors():
    from sentra.bus.nats import redact

    assert redact("nats://alice:s3cret@nats-1:4222, nats://nats-2:4222") == (
        "nats://***@nats-1:4222,nats://nats-2:4222"
    )
    assert "tok" not in redact("tls://tok@h")
