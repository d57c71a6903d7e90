"""The WireGuard API against a real node process: CRUD, roles, configs, QR codes,
one-time links, adoption, status from the cache, /metrics, secrets kept out of answers."""

from __future__ import annotations

import httpx
import pytest

from sentra.wireguard import keys
from tests.nodeproc import NodeProcess, create_token, wait_for

ENV = {"SENTRA_WIREGUARD_POLL_INTERVAL_S": "0.3", "SENTRA_WIREGUARD_ENABLED": "on"}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    data = tmp_path_factory.mktemp("wgapi")
    tokens = {role: create_token(data, role, name=role) for role in ("admin", "operator", "viewer")}
    proc = NodeProcess(data, env=ENV).start()
    yield proc, tokens
    if proc.proc and proc.proc.poll() is None:
        proc.stop()


def client(node, role="admin") -> httpx.Client:
    proc, tokens = node
    return httpx.Client(
        base_url=proc.url, headers={"Authorization": f"Bearer {tokens[role]}"}, timeout=10
    )


def make_interface(c, name, port, **extra):
    body = {
        "name": name,
        "addresses": ["10.77.0.1/24", "fd77::1/64"],
        "listen_port": port,
        "dns": ["10.77.0.1"],
        "endpoint": f"vpn.example.com:{port}",
        **extra,
    }
    r = c.post("/api/v1/wg/interfaces", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_interface_and_peer_lifecycle_with_next_free_addresses(node):
    with client(node) as c:
        iface = make_interface(c, "apia0", 52001)
        assert iface["up"] is False and iface["peers"] == 0 and keys.valid_key(iface["public_key"])
        r = c.post(
            "/api/v1/wg/peers",
            json={
                "interface": "apia0",
                "name": "phone",
                "preshared_key": True,
                "extra_routes": ["192.168.7.0/24"],
            },
        )
        assert r.status_code == 201, r.text
        peer, config = r.json()["peer"], r.json()["config"]
        assert peer["addresses"] == ["10.77.0.2/32", "fd77::2/128"]
        assert peer["has_preshared_key"] and peer["enabled"] and peer["expires_at"] is None
        assert set(peer["status"]) >= {
            "online",
            "endpoint",
            "latest_handshake",
            "rx_total",
            "tx_total",
            "rx_rate",
            "tx_rate",
            "rx_bytes",
            "tx_bytes",
        }
        assert "PrivateKey = " in config and "PresharedKey = " in config
        assert f"PublicKey = {iface['public_key']}" in config
        assert "AllowedIPs = 0.0.0.0/0, ::/0, 192.168.7.0/24" in config
        second = c.post("/api/v1/wg/peers", json={"interface": "apia0", "name": "laptop"}).json()
        assert second["peer"]["addresses"] == ["10.77.0.3/32", "fd77::3/128"]
        listed = c.get("/api/v1/wg/peers", params={"interface": "apia0"}).json()["peers"]
        assert [p["name"] for p in listed] == ["phone", "laptop"]
        assert c.get("/api/v1/wg/interfaces/apia0").json()["peers"] == 2
        # Deleting frees the address for the next peer.
        assert c.delete(f"/api/v1/wg/peers/{peer['id']}").status_code == 200
        third = c.post("/api/v1/wg/peers", json={"interface": "apia0", "name": "tablet"}).json()
        assert third["peer"]["addresses"] == ["10.77.0.2/32", "fd77::2/128"]
        r = c.patch(
            f"/api/v1/wg/peers/{third['peer']['id']}",
            json={"name": "tablet 2", "expires_at": 4102444800},
        )
        assert r.json()["name"] == "tablet 2" and r.json()["expires_at"] == 4102444800
        r = c.patch("/api/v1/wg/interfaces/apia0", json={"mtu": 1380, "dns": []})
        assert r.status_code == 200 and r.json()["mtu"] == 1380 and r.json()["dns"] == []
        assert c.delete("/api/v1/wg/interfaces/apia0").status_code == 200
        assert c.get("/api/v1/wg/interfaces/apia0").status_code == 404
        assert c.get(f"/api/v1/wg/peers/{third['peer']['id']}").status_code == 404


def test_roles_viewer_reads_operator_toggles_admin_changes(node):
    with client(node) as admin, client(node, "operator") as op, client(node, "viewer") as viewer:
        make_interface(admin, "apib0", 52002)
        pid = admin.post("/api/v1/wg/peers", json={"interface": "apib0", "name": "x"}).json()[
            "peer"
        ]["id"]
        assert viewer.get("/api/v1/wg/interfaces").status_code == 200
        assert viewer.get(f"/api/v1/wg/peers/{pid}").status_code == 200
        assert viewer.post(f"/api/v1/wg/peers/{pid}/disable").status_code == 403
        r = op.post(f"/api/v1/wg/peers/{pid}/disable")
        assert r.status_code == 200 and r.json()["enabled"] is False
        assert op.post(f"/api/v1/wg/peers/{pid}/enable").json()["enabled"] is True
        for method, path in [
            ("GET", f"/api/v1/wg/peers/{pid}/config"),
            ("GET", f"/api/v1/wg/peers/{pid}/qr.svg"),
            ("POST", f"/api/v1/wg/peers/{pid}/link"),
            ("DELETE", f"/api/v1/wg/peers/{pid}"),
            ("POST", "/api/v1/wg/interfaces/apib0/apply"),
        ]:
            r = op.request(method, path)
            assert r.status_code == 403, (method, path)
            assert r.headers["content-type"] == "application/problem+json"
        r = httpx.get(f"{node[0].url}/api/v1/wg/interfaces")
        assert r.status_code == 401


def test_config_qr_codes_and_a_link_that_works_once(node):
    with client(node) as c:
        make_interface(c, "apic0", 52003)
        created = c.post("/api/v1/wg/peers", json={"interface": "apic0", "name": "my phone"}).json()
        pid = created["peer"]["id"]
        r = c.get(f"/api/v1/wg/peers/{pid}/config")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert r.text == created["config"]
        assert 'filename="apic0-my-phone.conf"' in r.headers["content-disposition"]
        svg = c.get(f"/api/v1/wg/peers/{pid}/qr.svg")
        assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
        png = c.get(f"/api/v1/wg/peers/{pid}/qr.png")
        assert png.content.startswith(b"\x89PNG")
        link = c.post(f"/api/v1/wg/peers/{pid}/link", json={"ttl_s": 600}).json()
        assert link["url"].startswith(node[0].url + "/api/v1/wg/links/") and link["expires_at"] > 0
        first = httpx.get(link["url"])  # no token: the code is the credential
        assert first.status_code == 200 and first.text == created["config"]
        again = httpx.get(link["url"])
        assert (
            again.status_code == 410 and again.headers["content-type"] == "application/problem+json"
        )
        assert httpx.get(node[0].url + "/api/v1/wg/links/made-up").status_code == 410


def test_a_client_supplied_key_gets_no_config(node):
    with client(node) as c:
        make_interface(c, "apid0", 52004)
        pub = keys.public_key(keys.generate_private_key())
        r = c.post(
            "/api/v1/wg/peers", json={"interface": "apid0", "name": "own", "public_key": pub}
        )
        assert r.status_code == 201 and r.json()["config"] is None
        pid = r.json()["peer"]["id"]
        assert r.json()["peer"]["public_key"] == pub
        r = c.get(f"/api/v1/wg/peers/{pid}/config")
        assert r.status_code == 409 and "private key" in r.json()["detail"]
        dup = c.post(
            "/api/v1/wg/peers", json={"interface": "apid0", "name": "dup", "public_key": pub}
        )
        assert dup.status_code == 409


def test_bad_input_is_a_400_problem_that_says_what_to_send(node):
    with client(node) as c:
        cases = [
            (
                {"name": "bad name!", "addresses": ["10.1.0.1/24"], "listen_port": 1},
                "interface name",
            ),
            ({"name": "apie0", "addresses": ["10.1.0.0/24"], "listen_port": 1}, "network itself"),
            ({"name": "apie0", "addresses": ["nope"], "listen_port": 1}, "not an address"),
            ({"name": "apie0", "addresses": ["10.1.0.1/24"], "listen_port": 70000}, "listen_port"),
            (
                {"name": "apie0", "addresses": ["10.1.0.1/24"], "listen_port": 5, "endpoint": "x"},
                "host:port",
            ),
        ]
        for body, words in cases:
            r = c.post("/api/v1/wg/interfaces", json=body)
            assert r.status_code == 400 and words in r.json()["detail"], (body, r.text)
        assert (
            c.post("/api/v1/wg/peers", json={"interface": "nope", "name": "x"}).status_code == 404
        )
        make_interface(c, "apie0", 52005)
        assert (
            c.post(
                "/api/v1/wg/interfaces",
                json={"name": "apie0", "addresses": ["10.2.0.1/24"], "listen_port": 52099},
            ).status_code
            == 409
        )


def test_adopting_a_wg0_conf_keeps_its_key_and_peers(node):
    server = keys.generate_private_key()
    pa = keys.public_key(keys.generate_private_key())
    text = (
        f"[Interface]\nPrivateKey = {server}\nAddress = 10.66.0.1/24\nListenPort = 52006\n\n"
        f"[Peer]\n# alice\nPublicKey = {pa}\nAllowedIPs = 10.66.0.5/32, 192.168.3.0/24\n"
    )
    with client(node) as c:
        r = c.post("/api/v1/wg/interfaces/adopt", json={"name": "apif0", "config": text})
        assert r.status_code == 201, r.text
        assert r.json()["public_key"] == keys.public_key(server) and r.json()["peers"] == 1
        (alice,) = c.get("/api/v1/wg/peers", params={"interface": "apif0"}).json()["peers"]
        assert alice["name"] == "alice" and alice["public_key"] == pa
        assert alice["addresses"] == ["10.66.0.5/32"] and alice["allowed_ips"] == ["192.168.3.0/24"]
        nxt = c.post("/api/v1/wg/peers", json={"interface": "apif0", "name": "bob"}).json()
        assert nxt["peer"]["addresses"] == ["10.66.0.2/32"]
        bad = c.post(
            "/api/v1/wg/interfaces/adopt", json={"name": "apig0", "config": "[Interface]\nx\n"}
        )
        assert bad.status_code == 400 and "line 2" in bad.json()["detail"]


def test_status_and_metrics_come_from_the_cache_and_hold_no_secrets(node):
    proc, _ = node
    with client(node) as c:
        make_interface(c, "apih0", 52007)
        created = c.post("/api/v1/wg/peers", json={"interface": "apih0", "name": "s"}).json()
        pid = created["peer"]["id"]
        private = created["config"].split("PrivateKey = ")[1].split("\n")[0]

        def seen():
            st = c.get("/api/v1/wg/status").json()
            return [i for i in st["interfaces"] if i["name"] == "apih0" and i["peers"]]

        (iface,) = wait_for(seen, timeout=20)
        assert iface["up"] is False  # never applied
        (p,) = iface["peers"]
        assert p["id"] == pid and p["online"] is False and p["rx_total"] == 0
        assert set(p) == {
            "id",
            "public_key",
            "online",
            "endpoint",
            "latest_handshake",
            "rx_total",
            "tx_total",
            "rx_rate",
            "tx_rate",
        }
        metrics = c.get("/metrics").text
        assert f'sentra_wg_peer_online{{interface="apih0",peer="{pid}"' in metrics
        assert c.get(f"/api/v1/wg/peers/{pid}/endpoints").json() == {"endpoints": []}
        for path in (
            "/api/v1/wg/peers",
            f"/api/v1/wg/peers/{pid}",
            "/api/v1/wg/interfaces",
            "/api/v1/wg/status",
        ):
            assert private not in c.get(path).text
    log_text = "".join(f.read_text() for f in (proc.data_dir / "logs").glob("*.log*"))
    assert private not in log_text
    db = b"".join(f.read_bytes() for f in (proc.data_dir / "db").glob("sentra.db*"))
    assert private.encode() not in db and b"v1:" in db  # stored encrypted
