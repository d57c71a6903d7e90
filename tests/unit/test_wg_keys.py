"""WireGuard keys: X25519 public keys, secrets sealed at rest under a 0600 key file."""

import base64
import os
import stat

import pytest

from sentra.wireguard import keys

# RFC 7748, section 6.1: Alice's private and public key.
ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def test_public_key_matches_the_rfc_7748_vector():
    private = base64.b64encode(ALICE_PRIVATE).decode()
    assert keys.public_key(private) == base64.b64encode(ALICE_PUBLIC).decode()


def test_generated_keys_are_wireguard_keys_and_differ():
    a, b = keys.generate_private_key(), keys.generate_private_key()
    assert a != b and keys.valid_key(a) and keys.valid_key(keys.public_key(a))
    assert keys.valid_key(keys.generate_preshared_key())
    assert not keys.valid_key("not a key") and not keys.valid_key(
        base64.b64encode(b"x" * 31).decode()
    )


def test_secret_box_key_file_is_private_and_reused(tmp_path):
    box = keys.SecretBox(tmp_path / "state" / "wg.key")
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "wg.key").st_mode) == 0o600
    sealed = box.seal("secret-private-key", "wg:peer:1:private")
    assert "secret-private-key" not in sealed
    again = keys.SecretBox(tmp_path / "state" / "wg.key")
    assert again.open(sealed, "wg:peer:1:private") == "secret-private-key"


def test_a_sealed_secret_does_not_open_for_another_row_or_another_key(tmp_path):
    box = keys.SecretBox(tmp_path / "a.key")
    sealed = box.seal("k", "wg:peer:1:private")
    with pytest.raises(keys.KeyFormatError):
        box.open(sealed, "wg:peer:2:private")
    with pytest.raises(keys.KeyFormatError, match="cannot be decrypted"):
        keys.SecretBox(tmp_path / "b.key").open(sealed, "wg:peer:1:private")


def test_a_damaged_key_file_is_refused_not_replaced(tmp_path):
    path = tmp_path / "wg.key"
    path.write_text("garbage")
    with pytest.raises(keys.KeyFormatError, match="restore it"):
        keys.SecretBox(path)
    assert path.read_text() == "garbage"
