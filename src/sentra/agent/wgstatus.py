"""WireGuard status as samples, for the agent: what ``wg show all dump`` says, read-only.

The node's WireGuard manager owns interfaces (keys, peers, applying); an agent only reports
the tunnels of its host, so it needs no store and no manager: one ``wg`` call per tick on
the collector's worker thread (``SamplingLoop``), parsed with the node's own parser.
"""

from __future__ import annotations

import shutil
import subprocess

from sentra.collect.base import CollectorUnavailable, SampleBuilder
from sentra.events import Sample
from sentra.wireguard.dump import parse_dump


class WgStatusCollector:
    name = "wireguard"

    def __init__(self, wg: str = "wg", *, timeout_s: float = 2.0) -> None:
        self.wg = wg
        self.timeout_s = timeout_s

    def collect(self, now: float) -> list[Sample]:
        exe = shutil.which(self.wg)
        if exe is None:
            raise CollectorUnavailable(f"{self.wg} is not installed (wireguard-tools)")
        done = subprocess.run(
            [exe, "show", "all", "dump"],
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
            check=False,
        )
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            if "not permitted" in reason[0] or "ermission" in reason[0]:
                raise CollectorUnavailable(f"wg needs CAP_NET_ADMIN here: {reason[0]}")
            raise RuntimeError(f"wg show all dump failed: {reason[0]}")
        b = SampleBuilder(now)
        for name, iface in parse_dump(done.stdout).items():
            b.add("wireguard.interface.peers", len(iface.peers), {"interface": name})
            for peer in iface.peers.values():
                labels = {"interface": name, "peer": peer.public_key}
                b.add("wireguard.peer.rx_bytes", peer.rx_bytes, labels)
                b.add("wireguard.peer.tx_bytes", peer.tx_bytes, labels)
                if peer.latest_handshake is not None:
                    age = max(now - peer.latest_handshake, 0.0)
                    b.add("wireguard.peer.handshake_age_s", age, labels, digits=1)
        return b.samples

    def close(self) -> None:
        """Nothing is held between calls."""
