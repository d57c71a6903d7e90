"""Next free peer address in each of an interface's ranges."""

import pytest

from sentra.wireguard.addresses import next_free, used_addresses
from sentra.wireguard.model import Invalid


def test_first_peer_gets_the_address_after_the_server():
    assert next_free(["10.8.0.1/24", "fd00::1/64"], set()) == ["10.8.0.2/32", "fd00::2/128"]


def test_gaps_left_by_deleted_peers_are_reused_and_the_server_is_skipped():
    used = used_addresses(["10.8.0.2/32", "10.8.0.4/32", "fd00::2/128"])
    assert next_free(["10.8.0.3/24", "fd00::1/64"], used) == ["10.8.0.1/32", "fd00::3/128"]
    used |= used_addresses(["10.8.0.1/32"])
    assert next_free(["10.8.0.3/24"], used) == ["10.8.0.5/32"]
    used = used_addresses(["10.8.0.2/32", "10.8.0.3/32"])
    assert next_free(["10.8.0.1/24"], used) == ["10.8.0.4/32"]


def test_addresses_outside_the_range_do_not_count():
    used = used_addresses(["10.9.0.2/32", "192.168.1.2/32"])
    assert next_free(["10.8.0.1/24"], used) == ["10.8.0.2/32"]


def test_a_full_range_says_so():
    used = used_addresses(["10.8.0.2/32"])
    with pytest.raises(Invalid, match="no free address"):
        next_free(["10.8.0.1/30"], used)  # .0 network, .1 server, .2 peer, .3 broadcast


def test_a_thousand_peers_fit_a_slash_22():
    used: set = set()
    for _ in range(1000):
        (addr,) = next_free(["10.8.0.1/22"], used)
        used |= used_addresses([addr])
    assert len(used) == 1000 and max(used).exploded == "10.8.3.233"
