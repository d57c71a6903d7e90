"""Rendering server and client configs; reading an existing wg0.conf."""

import pytest

from sentra.wireguard import keys
from sentra.wireguard.model import Interface, Invalid, Peer
from sentra.wireguard.render import (
    parse_conf,
    render_client,
    render_server,
    render_sync,
    server_peers,
    wg_only,
)

SERVER_PRIV = keys.generate_private_key()
IFACE = Interface(
    name="wg0",
    addresses=["10.8.0.1/24", "fd00::1/64"],
    listen_port=51820,
    public_key=keys.public_key(SERVER_PRIV),
    private_key_enc="sealed",
    dns=["1.1.1.1"],
    mtu=1380,
    endpoint="vpn.example.com:51820",
    persistent_keepalive=25,
)


def peer(pid, *, enabled=True, expires_at=None, allowed=(), psk=None):
    return Peer(
        id=pid,
        interface="wg0",
        name=f"phone {pid}",
        public_key=keys.public_key(keys.generate_private_key()),
        addresses=[f"10.8.0.{pid}/32"],
        allowed_ips=list(allowed),
        extra_routes=["192.168.50.0/24"],
        enabled=enabled,
        expires_at=expires_at,
        created_at=0,
        updated_at=0,
        preshared_key_enc=psk,
    )


def test_server_config_holds_only_active_peers_with_their_networks_and_psk():
    peers = [
        peer(2, allowed=["192.168.9.0/24"], psk="x"),
        peer(3, enabled=False),
        peer(4, expires_at=100.0),
        peer(5, expires_at=300.0),
    ]
    psk = keys.generate_preshared_key()
    active = server_peers(peers, now=200.0, psk_of=lambda p: psk if p.preshared_key_enc else None)
    assert [p.name for p in active] == ["phone 2", "phone 5"]
    text = render_server(IFACE, SERVER_PRIV, active)
    assert "Address = 10.8.0.1/24, fd00::1/64" in text and "MTU = 1380" in text
    assert "AllowedIPs = 10.8.0.2/32, 192.168.9.0/24" in text
    assert text.count("PresharedKey = ") == 1 and psk in text
    sync = render_sync(IFACE, SERVER_PRIV, active)
    assert "Address" not in sync and "MTU" not in sync and "ListenPort = 51820" in sync
    assert wg_only(text) == wg_only(sync)  # what `wg-quick strip` would print


def test_client_config_has_the_server_as_its_peer():
    p = peer(2)
    priv = keys.generate_private_key()
    text = render_client(IFACE, p, priv, None)
    assert f"PrivateKey = {priv}" in text and "Address = 10.8.0.2/32" in text
    assert "DNS = 1.1.1.1" in text and f"PublicKey = {IFACE.public_key}" in text
    assert "AllowedIPs = 0.0.0.0/0, ::/0, 192.168.50.0/24" in text
    assert "Endpoint = vpn.example.com:51820" in text and "PersistentKeepalive = 25" in text
    assert "PresharedKey" not in text
    parsed = parse_conf(text)
    assert parsed.private_key == priv and parsed.peers[0].public_key == IFACE.public_key


def test_an_existing_wg0_conf_is_read_with_peer_names_from_comments():
    pa, pb = (keys.public_key(keys.generate_private_key()) for _ in range(2))
    psk = keys.generate_preshared_key()
    text = f"""
[Interface]
# the office
PrivateKey = {SERVER_PRIV}
Address = 10.7.0.1/24,fd07::1/64
ListenPort = 51000
PostUp = iptables -A FORWARD -i %i -j ACCEPT
dns = 9.9.9.9

[Peer]
# laptop
PublicKey = {pa}
PresharedKey = {psk}
AllowedIPs = 10.7.0.2/32, 192.168.5.0/24  # behind it

[peer]
publickey = {pb}
AllowedIPs = 10.7.0.3/32
Endpoint = 198.51.100.7:1234
"""
    conf = parse_conf(text)
    assert conf.private_key == SERVER_PRIV and conf.listen_port == 51000
    assert conf.addresses == ["10.7.0.1/24", "fd07::1/64"] and conf.dns == ["9.9.9.9"]
    assert [p.name for p in conf.peers] == ["laptop", ""]
    assert conf.peers[0].preshared_key == psk
    assert conf.peers[0].allowed_ips == ["10.7.0.2/32", "192.168.5.0/24"]
    assert conf.peers[1].endpoint == "198.51.100.7:1234"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[Interface]\nAddress = 10.0.0.1/24\n", "no \\[Interface\\] PrivateKey"),
        (f"[Interface]\nPrivateKey = {SERVER_PRIV}\nnonsense\n", "line 3"),
        (
            f"[Interface]\nPrivateKey = {SERVER_PRIV}\n[Peer]\nAllowedIPs = 10.0.0.2/32\n",
            "has no PublicKey",
        ),
        ("[Interface]\nPrivateKey = short\n", "line 2: PrivateKey is not a WireGuard key"),
    ],
)
def test_a_broken_config_is_refused_with_where_and_why(text, message):
    with pytest.raises(Invalid, match=message):
        parse_conf(text)
