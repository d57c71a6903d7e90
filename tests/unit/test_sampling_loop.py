import asyncio
import threading

from sentra.bus.memory import MemoryBus
from sentra.collect.base import CollectorUnavailable
from sentra.collect.loop import SamplingLoop
from sentra.events import CollectorStatus, Sample, Samples


class Quick:
    name = "quick"

    def collect(self, now):
        return [Sample("x", {}, now, 1.0)]

    def close(self):
        pass


class Hung:
    """Blocks like a statfs on a dead NFS mount until released."""

    name = "hung"

    def __init__(self):
        self.release = threading.Event()

    def collect(self, now):
        self.release.wait(10)
        return [Sample("y", {}, now, 2.0)]

    def close(self):
        self.release.set()


class Missing:
    name = "gpu"

    def collect(self, now):
        raise CollectorUnavailable("no NVIDIA GPU found")

    def close(self):
        pass


def test_a_hung_collector_delays_only_itself():
    async def main():
        bus = MemoryBus()
        sub = bus.subscribe(">", name="t", maxsize=10_000)
        hung = Hung()
        loop = SamplingLoop([Quick(), hung, Missing()], bus, interval=0.05)
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.6)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        loop.close()
        events = []
        while (item := sub.get_nowait()) is not None:
            events.append(item[1])
        return events

    events = asyncio.run(main())
    quick = [e for e in events if isinstance(e, Samples) and e.source == "quick"]
    assert len(quick) >= 6  # kept ticking at ~20 Hz while "hung" was stuck
    assert not [e for e in events if isinstance(e, Samples) and e.source == "hung"]
    states = {(e.source, e.state) for e in events if isinstance(e, CollectorStatus)}
    assert ("hung", "stale") in states
    assert ("gpu", "absent") in states
    msgs = [e.message for e in events if isinstance(e, CollectorStatus) and e.source == "hung"]
    assert any("still running" in m for m in msgs)
    # timestamps are aligned to the interval
    assert all(round(s.ts * 1000) % 50 == 0 for s in quick)


def test_field_failures_do_not_lose_the_other_fields():
    from sentra.collect.base import SampleBuilder

    b = SampleBuilder(1.0)
    b.add("ok.before", b.field("a", lambda: 1.0))
    b.add("broken", b.field("b", lambda: 1 / 0))
    b.add("ok.after", b.field("c", lambda: 3.0))
    assert [s.name for s in b.samples] == ["ok.before", "ok.after"]
    assert "ZeroDivisionError" in b.failures["b"]
