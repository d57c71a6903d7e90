"""SIGTERM to a busy node: what `docker stop`, `kubectl delete pod` and `systemctl stop` do.

A real `sentra up` takes ingest batches from two senders while a WebSocket and an SSE client
stream live frames. Then SIGTERM. Within the deadline the process exits 0, every batch that
was answered 2xx is in the store (and nothing that was never sent), the runtime checkpoint
says ``last_clean_shutdown: true``, and both live clients were told why the stream ended:
a WebSocket close frame 1001 with a reason, an SSE ``close`` event and a clean end of stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time

import httpx
import websockets
from websockets.exceptions import ConnectionClosed

from sentra.store.sqlite import SqliteStore
from tests.nodeproc import SENTRA, NodeProcess

METRIC = "app.shutdown"
BATCH = 500
STOP_DEADLINE_S = 20.0  # compose's stop_grace_period and the units' TimeoutStopSec are 30 s
REASON = "node shutting down"


class Sender:
    """Posts batches of unique values until the node stops answering; remembers which
    values were acknowledged (2xx) and which were ever sent."""

    def __init__(self, url: str, token: str, first: int) -> None:
        self.url = url
        self.token = token
        self.next = first
        self.sent: set[int] = set()
        self.acked: set[int] = set()
        self.statuses: dict[int, int] = {}

    async def run(self, base_ts: float) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10) as client:
            while True:
                values = list(range(self.next, self.next + BATCH))
                self.next += BATCH
                batch = [{"name": METRIC, "value": v, "ts": base_ts + v / 1000} for v in values]
                self.sent.update(values)
                try:
                    r = await client.post("/api/v1/ingest", json={"metrics": batch})
                except httpx.HTTPError:
                    return  # the node has closed its port: shutdown is under way
                self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                if r.is_success:
                    assert r.json()["accepted"]["metrics"] == BATCH
                    self.acked.update(values)


async def _websocket(url: str, token: str, frames: list[dict]) -> tuple[int | None, str]:
    ws_url = url.replace("http://", "ws://") + f"/api/v1/live?access_token={token}"
    async with websockets.connect(ws_url) as ws:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                frames.append(json.loads(raw))
        return ws.close_code, ws.close_reason or ""


async def _sse(url: str, token: str, events: list[str]) -> bool:
    """Reads the stream to its end; True when it ended cleanly (a complete chunked body)."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30, connect=5)) as client,
        client.stream("GET", f"{url}/api/v1/stream", params={"access_token": token}) as resp,
    ):
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            events.append(line)
    return True


def _admin_token(data_dir) -> str:
    """`sentra token create` with the node's own environment (no test switches such as
    TEST_REQUIRE_PROXIES, which the settings would refuse as unknown variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRA_")}
    done = subprocess.run(
        [SENTRA, "token", "create", "--name", "test", "--role", "admin", "-d", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    return done.stdout.strip()


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        await asyncio.sleep(0.05)


def test_sigterm_under_load_stores_every_acked_batch_and_closes_streams_with_a_reason(tmp_path):
    token = _admin_token(tmp_path)  # before the start: a failure here leaves no process
    node = NodeProcess(tmp_path, interval=0.2).start()
    base_ts = time.time() - 3600  # value v is stored at base_ts + v ms: one point per ms
    senders = [Sender(node.url, token, first) for first in (0, 2_000_000)]
    frames: list[dict] = []
    events: list[str] = []

    async def scenario() -> tuple[tuple[int | None, str], bool, int, float]:
        ws = asyncio.create_task(_websocket(node.url, token, frames))
        sse = asyncio.create_task(_sse(node.url, token, events))
        load = [asyncio.create_task(s.run(base_ts)) for s in senders]
        # Busy: both live clients have frames and batches are being acknowledged.
        await _until(
            lambda: (
                any(f["type"] == "frame" for f in frames)
                and any(e.startswith("data:") and '"frame"' in e for e in events)
                and all(len(s.acked) >= 10 * BATCH for s in senders)
            ),
            30,
            "no live frames or no acknowledged batches",
        )
        assert node.proc is not None
        started = time.monotonic()
        node.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(asyncio.to_thread(node.proc.wait), STOP_DEADLINE_S)
        took = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*load), 10)
        closed = await asyncio.wait_for(ws, 10)
        clean_end = await asyncio.wait_for(sse, 10)
        return closed, clean_end, code, took

    try:
        (close_code, close_reason), sse_clean, code, took = asyncio.run(scenario())
    finally:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
        output = node.proc.stdout.read() if node.proc and node.proc.stdout else ""
        if node.proc and node.proc.stdout:
            node.proc.stdout.close()

    assert code == 0, output
    assert took < STOP_DEADLINE_S
    # The WebSocket got a close frame that says why; SSE a close event, then a clean end.
    assert (close_code, close_reason) == (1001, REASON)
    assert sse_clean
    close_events = [e for e in events if e.startswith("data:") and '"close"' in e]
    assert close_events, events[-5:]
    assert json.loads(close_events[-1].removeprefix("data:"))["reason"] == REASON
    assert "event: close" in events

    state = json.loads((tmp_path / "state" / "runtime.json").read_text())
    assert state["last_clean_shutdown"] is True

    acked = set().union(*(s.acked for s in senders))
    sent = set().union(*(s.sent for s in senders))
    stored: list[int] = []
    store = SqliteStore(tmp_path / "db" / "sentra.db", readonly=True)
    try:
        for sender, first in zip(senders, (0, 2_000_000), strict=True):
            assert sender.next - first < 100_000, "more values than one raw query returns"
            lo, hi = base_ts + first / 1000 - 1, base_ts + sender.next / 1000 + 1
            res = store.history(METRIC, {}, lo, hi, limit=100_000, now=time.time())
            assert res.tier == "raw"
            stored += [int(v) for series in res.series for v in series.avg]
    finally:
        store.close()
    assert len(stored) == len(set(stored)), "a value was stored twice"
    assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged values were lost"
    assert set(stored) <= sent
    assert len(acked) >= 20 * BATCH

    # The next start finds a clean previous run.
    again = NodeProcess(tmp_path).start()
    try:
        info = httpx.get(
            f"{again.url}/api/v1/storage/info", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert info["previous_run_unclean"] is False
    finally:
        assert again.stop() == 0
