"""Applying a 1,000-peer WireGuard config: how long it takes, and whether a live tunnel's
session survives it.

Usage (root, with iproute2, wireguard-tools, wireguard-go): .venv/bin/python bench/wg_apply.py
[--peers N] [--syncs K]

Two network namespaces joined by a veth pair. A node adopts an interface with N peers (one of
them a real client in the second namespace, the rest random keys), brings it up in the first
namespace (``wg setconf`` of N peers, addresses, link up) and the client connects with
``wg-quick``. Then K applies with ``wg syncconf`` (one after adding a peer through the API,
the rest unchanged), each timed. Survival: the client's latest handshake as seen by the
server is the same before and after, and a ping right after the applies answers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import httpx

from _common import emit, log, machine, sentra_node, temp_dir


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", type=int, default=1000)
    ap.add_argument("--syncs", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0 or not all(
        shutil.which(t) for t in ("ip", "wg", "wg-quick", "wireguard-go")
    ):
        raise SystemExit("needs root, iproute2, wireguard-tools and wireguard-go")
    from sentra.wireguard.keys import generate_private_key, public_key

    tag = str(os.getpid())
    ns_a, ns_b, srv, cli = f"swgb{tag}a", f"swgb{tag}b", f"swgb{tag}s", f"swgb{tag}c"
    client_priv = generate_private_key()
    server_priv = generate_private_key()
    conf = [
        "[Interface]",
        f"PrivateKey = {server_priv}",
        "Address = 10.88.0.1/16",
        "ListenPort = 51820",
        "[Peer]",
        "# client",
        f"PublicKey = {public_key(client_priv)}",
        "AllowedIPs = 10.88.0.2/32",
    ]
    for i in range(1, args.peers):
        conf += [
            "[Peer]",
            f"PublicKey = {public_key(generate_private_key())}",
            f"AllowedIPs = 10.88.{i // 250 + 1}.{i % 250 + 2}/32",
        ]
    try:
        sh("ip", "netns", "add", ns_a)
        sh("ip", "netns", "add", ns_b)
        sh(
            "ip",
            "link",
            "add",
            f"sv{tag}a",
            "netns",
            ns_a,
            "type",
            "veth",
            "peer",
            "name",
            f"sv{tag}b",
            "netns",
            ns_b,
        )
        for ns, dev, addr in (
            (ns_a, f"sv{tag}a", "10.201.0.1/30"),
            (ns_b, f"sv{tag}b", "10.201.0.2/30"),
        ):
            sh("ip", "-n", ns, "address", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", "dev", dev, "up")
        with (
            sentra_node(role="admin", extra_env={"SENTRA_WIREGUARD_POLL_INTERVAL_S": "1"}) as node,
            temp_dir("sentra-wgapply-") as tmp,
        ):
            c = httpx.Client(base_url=node.url, headers=node.headers, timeout=120)
            r = c.post(
                "/api/v1/wg/interfaces/adopt",
                json={
                    "name": srv,
                    "config": "\n".join(conf),
                    "netns": ns_a,
                    "endpoint": "10.201.0.1:51820",
                },
            )
            r.raise_for_status()
            t0 = time.perf_counter()
            created = c.post(f"/api/v1/wg/interfaces/{srv}/apply").json()
            create_s = time.perf_counter() - t0
            log(f"brought up {args.peers} peers in {create_s:.2f} s ({created})")
            client_conf = Path(tmp) / f"{cli}.conf"
            client_conf.write_text(
                f"[Interface]\nPrivateKey = {client_priv}\nAddress = 10.88.0.2/32\n\n[Peer]\n"
                f"PublicKey = {r.json()['public_key']}\nAllowedIPs = 10.88.0.0/16\n"
                "Endpoint = 10.201.0.1:51820\n"
            )
            client_conf.chmod(0o600)
            sh("ip", "netns", "exec", ns_b, "wg-quick", "up", str(client_conf))
            deadline = time.monotonic() + 30
            while sh(
                "ip", "netns", "exec", ns_b, "ping", "-c1", "-W1", "10.88.0.1", check=False
            ).returncode:
                if time.monotonic() > deadline:
                    raise RuntimeError("no tunnel")

            def handshake() -> str:
                out = sh("ip", "netns", "exec", ns_a, "wg", "show", srv, "latest-handshakes").stdout
                return next(x for x in out.splitlines() if x.startswith(public_key(client_priv)))

            before = handshake()
            syncs = []
            t0 = time.perf_counter()
            c.post("/api/v1/wg/peers", json={"interface": srv, "name": "new"}).raise_for_status()
            add_s = time.perf_counter() - t0
            for _ in range(args.syncs):
                t0 = time.perf_counter()
                res = c.post(f"/api/v1/wg/interfaces/{srv}/apply").json()
                syncs.append(time.perf_counter() - t0)
                assert res["result"] == "synced", res
            ping_ok = (
                sh(
                    "ip", "netns", "exec", ns_b, "ping", "-c1", "-W1", "10.88.0.1", check=False
                ).returncode
                == 0
            )
            after = handshake()
            c.close()
    finally:
        for ns, dev in ((ns_a, srv), (ns_b, cli)):
            sh("ip", "-n", ns, "link", "del", "dev", dev, check=False)
        for ns in (ns_a, ns_b):
            sh("ip", "netns", "del", ns, check=False)
    result = {
        "bench": "wg_apply",
        "peers": args.peers,
        "bring_up_s": round(create_s, 3),
        "add_peer_with_syncconf_s": round(add_s, 3),
        "syncconf_median_s": round(statistics.median(syncs), 3),
        "syncconf_max_s": round(max(syncs), 3),
        "handshake_survived": before == after,
        "ping_right_after": ping_ok,
        "implementation": "wireguard-go (userspace)",
        "machine": machine(),
    }
    emit(
        result,
        f"wg apply, {args.peers} peers: up {create_s:.2f} s, syncconf median "
        f"{statistics.median(syncs):.2f} s; handshake survived: {before == after}, "
        f"ping right after: {ping_ok}",
    )


if __name__ == "__main__":
    main()
