"""WireGuard keys (X25519) and the encryption of secrets at rest.

Keys are generated with ``cryptography`` and travel as the base64 text ``wg`` uses. Private
and preshared keys are stored encrypted with AES-256-GCM under a key kept in
``state/wg.key`` (mode 0600, created on first use); the database alone gives nothing away.
Every ciphertext is bound to what it protects (``aad``), so a value copied onto another
row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sentra.state.atomic import write_bytes_atomic

_VERSION = "v1:"


class KeyFormatError(ValueError):
    """A key that is not 32 bytes of base64, or a secret that cannot be decrypted."""


def _raw(key: str) -> bytes:
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("a WireGuard key is 44 characters of base64") from None
    if len(raw) != 32:
        raise KeyFormatError("a WireGuard key is 44 characters of base64 (32 bytes)")
    return raw


def valid_key(key: str) -> bool:
    """Whether ``key`` is a WireGuard key (32 bytes, base64)."""
    try:
        _raw(key)
    except KeyFormatError:
        return False
    return True


def generate_private_key() -> str:
    raw = X25519PrivateKey.generate().private_bytes_raw()
    return base64.b64encode(raw).decode()


def public_key(private_key: str) -> str:
    """The public key of a private key (what ``wg pubkey`` prints)."""
    priv = X25519PrivateKey.from_private_bytes(_raw(private_key))
    raw = priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def generate_preshared_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


class SecretBox:
    """AES-256-GCM with a key file of mode 0600; ``seal``/``open`` text secrets."""

    def __init__(self, key_path: Path) -> None:
        self.path = key_path
        self._aead = AESGCM(self._load_or_create())

    def _load_or_create(self) -> bytes:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            key = AESGCM.generate_key(bit_length=256)
            write_bytes_atomic(self.path, base64.b64encode(key) + b"\n", mode=0o600)
            return key
        try:
            key = base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            # Never replace it: the stored secrets would be lost with it.
            raise KeyFormatError(
                f"{self.path} is not a Sentra WireGuard key file (32 bytes of base64); "
                "restore it from a backup"
            )
        if os.stat(self.path).st_mode & 0o077:
            os.chmod(self.path, 0o600)
        return key

    def seal(self, plaintext: str, aad: str) -> str:
        nonce = secrets.token_bytes(12)
        ct = self._aead.encrypt(nonce, plaintext.encode(), aad.encode())
        return _VERSION + base64.b64encode(nonce + ct).decode()

    def open(self, sealed: str, aad: str) -> str:
        if not sealed.startswith(_VERSION):
            raise KeyFormatError("unknown secret format")
        try:
            blob = base64.b64decode(sealed[len(_VERSION) :], validate=True)
            return self._aead.decrypt(blob[:12], blob[12:], aad.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise KeyFormatError(
                f"a stored secret cannot be decrypted with {self.path} (was the key file replaced?)"
            ) from None
