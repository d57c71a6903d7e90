"""The agent's wire format and back-off, against the server's own batch parser."""

from __future__ import annotations

import time

from sentra.agent.runner import encode_batch
from sentra.backoff import Backoff
from sentra.events import Sample
from sentra.ingest.model import parse_batch


def test_a_spooled_batch_is_a_valid_ingest_body_with_host_and_stable_ids() -> None:
    now = time.time()
    samples = [
        Sample("system.cpu.utilization", {"cpu": "total"}, now, 0.25),
        Sample("system.memory.utilization", {}, now, 0.5),
        Sample("hw.temperature", {"chip": "nvme", "host": "spoofed"}, now, 41.0),
    ]
    body = encode_batch(samples, "edge-1", "b1")
    batch = parse_batch(body, "application/msgpack", now=now, oldest=now - 86400)
    assert not batch.rejected
    assert [r.labels["host"] for r in batch.samples.refs] == ["edge-1"] * 3  # the agent's id wins
    assert batch.samples.refs[0].labels == {"cpu": "total", "host": "edge-1"}
    assert batch.samples.values == [0.25, 0.5, 41.0]
    assert batch.sample_ids == ["b1.0", "b1.1", "b1.2"]
    assert encode_batch(samples, "edge-1", "b1") == body  # a replay sends the same bytes


def test_backoff_grows_to_its_cap_with_jitter_and_honours_retry_after() -> None:
    ceilings: list[float] = []
    backoff = Backoff(base=0.5, cap=8.0, rand=lambda lo, hi: ceilings.append(hi) or hi)
    delays = [backoff.next_delay() for _ in range(7)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert delays == ceilings
    assert backoff.next_delay(at_least=20.0) == 20.0  # the server's Retry-After
    backoff.reset()
    assert backoff.next_delay() == 0.5
    jittered = Backoff(base=1.0, cap=4.0)
    spread = {round(jittered.next_delay(), 6) for _ in range(20)}
    assert len(spread) > 10 and all(0 <= d <= 4.0 for d in spread)
