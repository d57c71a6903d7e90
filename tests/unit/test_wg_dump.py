"""Parsing `wg show all dump`."""

from sentra.wireguard.dump import parse_dump

DUMP = (
    "wg0\tPRIV0=\tPUB0=\t51820\toff\n"
    "wg0\tPEERA=\t(none)\t203.0.113.5:40000\t10.8.0.2/32,fd00::2/128\t1700000000\t1234\t5678\t25\n"
    "wg0\tPEERB=\tPSK=\t(none)\t10.8.0.3/32\t0\t0\t0\toff\n"
    "wg1\tPRIV1=\tPUB1=\t51821\t0x1\n"
    "wg1\tPEERC=\t(none)\t[2001:db8::1]:5\t(none)\t1700000100\t1\t2\toff\n"
    "garbage line\n"
)


def test_every_interface_and_peer_is_read():
    got = parse_dump(DUMP)
    assert sorted(got) == ["wg0", "wg1"]
    wg0 = got["wg0"]
    assert wg0.public_key == "PUB0=" and wg0.listen_port == 51820
    a = wg0.peers["PEERA="]
    assert a.endpoint == "203.0.113.5:40000"
    assert a.allowed_ips == ("10.8.0.2/32", "fd00::2/128")
    assert (a.latest_handshake, a.rx_bytes, a.tx_bytes) == (1700000000.0, 1234, 5678)
    b = wg0.peers["PEERB="]
    assert b.endpoint is None and b.latest_handshake is None and b.rx_bytes == 0
    c = got["wg1"].peers["PEERC="]
    assert c.endpoint == "[2001:db8::1]:5" and c.allowed_ips == ()


def test_the_private_key_is_not_kept():
    got = parse_dump(DUMP)
    assert "PRIV0=" not in repr(got)


def test_a_truncated_peer_line_is_skipped_and_the_rest_kept():
    got = parse_dump(
        "wg0\tP\tPUB\t1\toff\nwg0\tX=\t(none)\t(none)\t(none)\tbad\t1\t2\toff\n"
        "wg0\tY=\t(none)\t(none)\t(none)\t0\t1\t2\toff\n"
    )
    assert list(got["wg0"].peers) == ["Y="]
