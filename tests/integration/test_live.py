"""Live streams on a real `sentra up`: WebSocket and SSE frames, filters, auth, slow clients."""

import asyncio
import json
import re
import socket
import subprocess
import time

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.nodeproc import SENTRA, NodeProcess, create_token


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("live")
    proc = NodeProcess(data).start()
    token = create_token(data, role="viewer", name="viewer")
    yield proc, token
    assert proc.stop() == 0


def _ws_url(proc, query=""):
    return proc.url.replace("http://", "ws://") + "/api/v1/live" + (f"?{query}" if query else "")


async def _frames_until(ws, predicate, timeout=15.0):
    """Frames from ``ws`` until one satisfies ``predicate``; fails after the deadline."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        msg = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        seen.append(msg)
        if msg["type"] == "frame" and predicate(msg):
            return seen
    raise AssertionError(f"no matching frame within {timeout} s; saw {seen[-3:]}")


def _metric_items(frame):
    return [i for i in frame["items"] if i["kind"] == "metrics"]


def test_websocket_client_receives_host_metrics_in_frames(node):
    proc, token = node

    async def run():
        headers = {"Authorization": f"Bearer {token}"}
        async with websockets.connect(_ws_url(proc), additional_headers=headers) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello"
            assert hello["filters"]["kinds"] == ["metrics", "status"]
            seen = await _frames_until(ws, lambda f: _metric_items(f))
            frame = seen[-1]
            assert {"type", "seq", "ts", "dropped", "items"} <= frame.keys()
            item = _metric_items(frame)[0]
            assert item["topic"].startswith("metrics.collect.host.")
            sample = item["samples"][0]
            assert {"name", "labels", "value", "ts"} == sample.keys()
            assert abs(frame["ts"] - time.time()) < 10

    asyncio.run(run())


def test_sse_stream_sends_the_same_messages(node):
    proc, token = node
    url = f"{proc.url}/api/v1/stream"
    with httpx.stream("GET", url, params={"access_token": token}, timeout=15) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        messages = []
        for line in resp.iter_lines():
            if line.startswith("data: "):
                messages.append(json.loads(line[6:]))
                if messages[-1]["type"] == "frame" and _metric_items(messages[-1]):
                    break
    assert messages[0]["type"] == "hello"
    frame = messages[-1]
    assert frame["dropped"] == 0 and frame["seq"] >= 1
    assert _metric_items(frame)[0]["samples"][0].keys() == {"name", "labels", "value", "ts"}


def test_name_glob_and_label_filters_select_samples(node):
    proc, token = node

    async def run():
        query = f"access_token={token}&kinds=metrics&name=system.cpu.*&labels=cpu=total"
        async with websockets.connect(_ws_url(proc, query)) as ws:
            seen = await _frames_until(ws, lambda f: _metric_items(f))
            samples = [s for f in seen if f["type"] == "frame" for s in _metric_items(f)[0:99]]
            flat = [x for item in samples for x in item["samples"]]
            assert flat and all(s["name"].startswith("system.cpu.") for s in flat)
            assert all(s["labels"].get("cpu") == "total" for s in flat)
            assert all(i["kind"] == "metrics" for f in seen[1:] for i in f["items"])

    asyncio.run(run())


def test_token_as_subprotocol_and_a_later_subscribe_message(node):
    proc, token = node

    async def run():
        protocols = ["sentra.live.v1", f"bearer.{token}"]
        async with websockets.connect(_ws_url(proc), subprotocols=protocols) as ws:
            assert ws.subprotocol == "sentra.live.v1"
            assert json.loads(await ws.recv())["type"] == "hello"
            await ws.send(json.dumps({"type": "subscribe", "kinds": "status"}))
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            while msg["type"] != "subscribed":
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert msg["filters"]["kinds"] == ["status"]
            seen = await _frames_until(ws, lambda f: True)
            assert all(i["kind"] == "status" for i in seen[-1]["items"])
            await ws.send(json.dumps({"type": "subscribe", "kinds": "nope"}))
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            while msg["type"] != "error":
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert "unknown kind 'nope'" in msg["detail"]

    asyncio.run(run())


@pytest.mark.parametrize(
    "query,status,needle",
    [
        ("", 401, "need a token"),
        ("access_token=sentra_deadbeef_notreal", 401, "not valid"),
        ("access_token={token}&kinds=bogus", 400, "unknown kind 'bogus'"),
    ],
)
def test_bad_tokens_and_filters_are_refused_on_both_endpoints(node, query, status, needle):
    proc, token = node
    query = query.format(token=token)

    async def run():
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(_ws_url(proc, query)):
                pass
        resp = refused.value.response
        assert resp.status_code == status
        body = json.loads(resp.body)
        assert body["status"] == status and needle in body["detail"]

    asyncio.run(run())
    resp = httpx.get(f"{proc.url}/api/v1/stream?{query}", timeout=10)
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert needle in resp.json()["detail"]


async def _until_closed(ws):
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return closed


async def _scrape(http, name):
    text = (await http.get("/metrics")).text
    m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_a_client_that_never_reads_is_closed_while_another_keeps_receiving(tmp_path):
    env = {"SENTRA_LIVE_CLIENT_QUEUE_FRAMES": "2", "SENTRA_LIVE_SLOW_CLIENT_TIMEOUT_S": "1"}
    proc = NodeProcess(tmp_path, env=env).start()
    try:
        token = create_token(tmp_path, role="operator", name="op")
        query = f"access_token={token}&kinds=metrics&source=ingest"

        async def run():
            # The stuck client: a tiny receive buffer and a one-message client queue, and it
            # never calls recv() until the node has given up on it.
            sock = socket.create_connection(("127.0.0.1", proc.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck = await websockets.connect(
                _ws_url(proc, query), sock=sock, max_queue=1, max_size=None, compression=None
            )
            reader = await websockets.connect(_ws_url(proc, query), max_size=None)
            got = 0

            async def read():
                nonlocal got
                async for raw in reader:
                    got += len(json.loads(raw).get("items", []))

            reading = asyncio.get_running_loop().create_task(read())
            body = {
                "metrics": [
                    {"name": "live.test.flood", "value": i, "labels": {"pad": "x" * 200}}
                    for i in range(2000)
                ]
            }
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=proc.url, headers=headers, timeout=30) as http:

                async def flood():
                    while True:
                        assert (await http.post("/api/v1/ingest", json=body)).status_code < 300

                flooding = asyncio.get_running_loop().create_task(flood())
                deadline = time.monotonic() + 60
                while await _scrape(http, "sentra_live_disconnected_slow_total") < 1:
                    assert time.monotonic() < deadline, "the stuck client was never closed"
                    assert not flooding.done()
                    await asyncio.sleep(0.02)
                # Read the backlog now (a wider window too): the close frame comes once the
                # client has taken what was already on the wire.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
                draining = asyncio.get_running_loop().create_task(_until_closed(stuck))
                before = got
                deadline = time.monotonic() + 10
                while got <= before:  # the reading client still gets frames
                    assert time.monotonic() < deadline, "the reading client stopped receiving"
                    await asyncio.sleep(0.05)
                flooding.cancel()
                assert await _scrape(http, "sentra_live_dropped_frames_total") > 0
            # The node gives a peer that is this far behind a few seconds to take the close
            # frame ("too slow: N frames dropped", code 1013), then drops the connection.
            rcvd = (await asyncio.wait_for(draining, 60)).rcvd
            if rcvd is not None:
                assert rcvd.code == 1013
                assert re.fullmatch(r"too slow: [1-9][0-9]* frames dropped", rcvd.reason)
            reading.cancel()
            await reader.close()

        asyncio.run(run())
    finally:
        assert proc.stop() == 0


def test_a_revoked_token_ends_an_open_stream(node):
    proc, _ = node
    doomed = create_token(proc.data_dir, role="viewer", name="doomed")

    async def run():
        async with websockets.connect(_ws_url(proc, f"access_token={doomed}")) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            subprocess.run(
                [SENTRA, "token", "revoke", doomed.split("_")[1], "--data-dir", str(proc.data_dir)],
                check=True,
                capture_output=True,
                timeout=60,
            )
            closed = await asyncio.wait_for(_until_closed(ws), 20)
            assert closed.rcvd.code == 1008
            assert closed.rcvd.reason == "the token is no longer valid"

    asyncio.run(run())
