"""The real thing: WireGuard tunnels between two network namespaces, managed by Sentra.

Two namespaces joined by a veth pair; in one, Sentra brings up a server interface (the
userspace ``wireguard-go`` where the kernel has no WireGuard) and applies its config; in
the other, the config Sentra rendered for a peer goes up with ``wg-quick``, as on a client
device. Then: ping across the tunnel; Sentra's status shows the handshake and the traffic;
the totals carry on across a restart of the interface and of the node; disabling another
peer leaves the tunnel's session alone.

Needs root, iproute2 (``ip netns``), wireguard-tools and wireguard-go. Without them the
tests skip with the reason, unless ``TEST_REQUIRE_WIREGUARD=1`` (CI), where they fail.
``wg show all dump`` sees every userspace interface on the machine, so names are unique
per process (``swg<pid><n>``); namespaces and interfaces are removed even when a test fails.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.nodeproc import NodeProcess, create_token, wait_for

TOOLS = ("ip", "wg", "wg-quick", "wireguard-go", "ping")
_seq = itertools.count()


def _missing() -> str:
    if os.geteuid() != 0:
        return "needs root (network namespaces, WireGuard interfaces)"
    absent = [t for t in TOOLS if shutil.which(t) is None]
    if absent:
        return (
            f"missing {', '.join(absent)}: apt-get install -y --no-install-recommends "
            "wireguard-tools wireguard-go iproute2 iputils-ping"
        )
    probe = f"swgprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot create a network namespace: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


_REASON = _missing()
if _REASON and os.environ.get("TEST_REQUIRE_WIREGUARD") == "1":
    raise RuntimeError(f"TEST_REQUIRE_WIREGUARD=1 but {_REASON}")
pytestmark = pytest.mark.skipif(bool(_REASON), reason=_REASON)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {r.stderr.strip()}")
    return r


def _kill_daemons(names: set[str]) -> None:
    """End the wireguard-go daemons of our own interfaces (found by their exact argv)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 2 and argv[0].endswith(b"wireguard-go") and argv[1].decode() in names:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), 9)


class Lab:
    """Two namespaces (server side ``a``, client side ``b``) joined by a veth pair."""

    def __init__(self) -> None:
        n = next(_seq)
        tag = f"{os.getpid()}{n}"
        self.ns_a, self.ns_b = f"swg{tag}a", f"swg{tag}b"
        self.server, self.client = f"swg{tag}s", f"swg{tag}c"
        self.interfaces = {self.server, self.client}
        sh("ip", "netns", "add", self.ns_a)
        sh("ip", "netns", "add", self.ns_b)
        va, vb = f"sv{tag}a", f"sv{tag}b"
        sh(
            "ip",
            "link",
            "add",
            va,
            "netns",
            self.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            vb,
            "netns",
            self.ns_b,
        )
        sh("ip", "-n", self.ns_a, "address", "add", "10.201.0.1/30", "dev", va)
        sh("ip", "-n", self.ns_b, "address", "add", "10.201.0.2/30", "dev", vb)
        for ns, dev in ((self.ns_a, va), (self.ns_b, vb)):
            sh("ip", "-n", ns, "link", "set", "dev", dev, "up")
            sh("ip", "-n", ns, "link", "set", "dev", "lo", "up")

    def client_up(self, config: str, tmp: Path) -> None:
        path = tmp / f"{self.client}.conf"
        path.write_text(config)
        path.chmod(0o600)
        sh("ip", "netns", "exec", self.ns_b, "wg-quick", "up", str(path))

    def ping(self, addr: str = "10.88.0.1", count: int = 3) -> bool:
        r = sh(
            "ip",
            "netns",
            "exec",
            self.ns_b,
            "ping",
            "-c",
            str(count),
            "-i",
            "0.2",
            "-W",
            "1",
            addr,
            check=False,
        )
        return r.returncode == 0

    def handshakes(self) -> str:
        return sh(
            "ip", "netns", "exec", self.ns_a, "wg", "show", self.server, "latest-handshakes"
        ).stdout

    def close(self) -> None:
        for ns, dev in ((self.ns_a, self.server), (self.ns_b, self.client)):
            sh("ip", "-n", ns, "link", "del", "dev", dev, check=False)
        _kill_daemons(self.interfaces)
        for ns in (self.ns_a, self.ns_b):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def lab():
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def node(tmp_path):
    token = create_token(tmp_path, "admin", name="netns")
    proc = NodeProcess(tmp_path, env={"SENTRA_WIREGUARD_POLL_INTERVAL_S": "0.3"}).start()
    try:
        yield proc, token
    finally:
        if proc.proc and proc.proc.poll() is None:
            proc.stop()


def api(proc: NodeProcess, token: str) -> httpx.Client:
    return httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def peer_status(c: httpx.Client, iface: str, pid: str) -> dict:
    for i in c.get("/api/v1/wg/status").json()["interfaces"]:
        if i["name"] == iface:
            for p in i["peers"]:
                if p["id"] == pid:
                    return {**p, "up": i["up"]}
    return {}


def test_tunnel_between_namespaces_shows_handshake_and_traffic_and_totals_survive(
    lab, node, tmp_path
):
    proc, token = node
    with api(proc, token) as c:
        r = c.post(
            "/api/v1/wg/interfaces",
            json={
                "name": lab.server,
                "addresses": ["10.88.0.1/24", "fd88::1/64"],
                "listen_port": 51820,
                "endpoint": "10.201.0.1:51820",
                "client_allowed_ips": ["10.88.0.0/24", "fd88::/64"],
                "netns": lab.ns_a,
            },
        )
        assert r.status_code == 201, r.text
        created = c.post(
            "/api/v1/wg/peers",
            json={"interface": lab.server, "name": "client", "preshared_key": True},
        ).json()
        pid, config = created["peer"]["id"], created["config"]
        applied = c.post(f"/api/v1/wg/interfaces/{lab.server}/apply")
        assert applied.status_code == 200, applied.text
        assert applied.json()["result"] == "created"
        lab.client_up(config, tmp_path)

        assert wait_for(lambda: lab.ping(), timeout=30, every=0.2)
        st = wait_for(
            lambda: (
                (s := peer_status(c, lab.server, pid)) and s["online"] and s["rx_total"] > 0 and s
            ),
            timeout=20,
        )
        assert st["up"] and st["latest_handshake"] > time.time() - 60
        assert st["endpoint"].startswith("10.201.0.2:")
        assert st["rx_total"] > 0 and st["tx_total"] > 0
        history = c.get(f"/api/v1/wg/peers/{pid}/endpoints").json()["endpoints"]
        assert history[0]["endpoint"] == st["endpoint"]
        assert (
            f'sentra_wg_peer_online{{interface="{lab.server}",peer="{pid}"'
            in c.get("/metrics").text
        )

        # Another peer comes and goes (enable/disable): this tunnel's session stays.
        other = c.post("/api/v1/wg/peers", json={"interface": lab.server, "name": "o"}).json()
        before = lab.handshakes()
        assert c.post(f"/api/v1/wg/peers/{other['peer']['id']}/disable").status_code == 200
        assert c.post(f"/api/v1/wg/peers/{other['peer']['id']}/enable").status_code == 200
        assert lab.ping(count=1)
        assert created["peer"]["public_key"] in before
        assert before.split("\n")[0] in lab.handshakes()  # same handshake time: no new session

        # The interface restarts (counters reset); the totals carry on.
        total_before = peer_status(c, lab.server, pid)["rx_total"]
        sh("ip", "-n", lab.ns_a, "link", "del", "dev", lab.server)
        wait_for(lambda: not peer_status(c, lab.server, pid)["up"], timeout=20)
        assert c.post(f"/api/v1/wg/interfaces/{lab.server}/apply").json()["result"] == "created"
        assert wait_for(lambda: lab.ping(count=1), timeout=60, every=0.5)

        def grown() -> dict:
            s = c.get(f"/api/v1/wg/peers/{pid}").json()["status"]
            return s if s["rx_total"] > total_before and s["rx_bytes"] > 0 else {}

        after = wait_for(grown, timeout=20)
        assert after["rx_bytes"] < after["rx_total"]  # raw counters restarted, totals did not

    # The node restarts: totals are read back from the database.
    proc.stop()
    proc.start()
    with api(proc, token) as c:
        st = c.get(f"/api/v1/wg/peers/{pid}").json()["status"]
        assert st["rx_total"] >= after["rx_total"]
        assert lab.ping(count=1)  # the tunnel did not go down with the node
