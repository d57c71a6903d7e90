"""Access tokens: the key file, kid, rotation, and every kind of forged or stale token."""

import base64
import json
import logging
import os
import stat
import warnings

import jwt as pyjwt
import pytest

from sentra.auth.jwt import KeyRing, TokenError

T0 = 1_800_000_000.0
TTL = 900.0


@pytest.fixture
def ring(tmp_path):
    return KeyRing(tmp_path / "state" / "jwt.key", access_ttl_s=TTL, now=T0)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict, dict, str]:
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(h))),
        json.loads(base64.urlsafe_b64decode(pad(p))),
        s,
    )


def test_key_file_is_private_and_survives_a_restart(tmp_path, ring):
    path = tmp_path / "state" / "jwt.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    again = KeyRing(path, access_ttl_s=TTL, now=T0 + 1)
    assert again.verify(token, T0 + 1).sub == "alice"
    assert not list(path.parent.glob(".*.tmp"))


def test_a_key_file_readable_by_others_is_tightened(tmp_path, ring, caplog):
    path = tmp_path / "state" / "jwt.key"
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING):
        KeyRing(path, access_ttl_s=TTL, now=T0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "readable by others" in caplog.text


def test_a_damaged_key_file_is_replaced_and_old_tokens_stop_working(tmp_path, ring, caplog):
    token, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    path = tmp_path / "state" / "jwt.key"
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        fresh = KeyRing(path, access_ttl_s=TTL, now=T0)
    assert "damaged" in caplog.text
    with pytest.raises(TokenError):
        fresh.verify(token, T0)


def test_token_names_its_kid_and_carries_the_claims(ring):
    token, exp = ring.issue(sub="alice", role="operator", sid="s1", now=T0)
    header, payload, _ = _parts(token)
    assert header == {"alg": "HS256", "kid": ring.current_kid, "typ": "JWT"}
    assert payload["sub"] == "alice" and payload["sid"] == "s1" and payload["typ"] == "access"
    assert exp == T0 + TTL
    claims = ring.verify(token, T0 + TTL - 1)
    assert (claims.sub, claims.role, claims.sid) == ("alice", "operator", "s1")


def test_expired_token_is_refused_as_expired(ring):
    token, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    with pytest.raises(TokenError) as err:
        ring.verify(token, T0 + TTL)
    assert err.value.expired and "expired" in err.value.detail


def test_token_signed_with_another_key_is_refused(ring):
    token, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    header, payload, _ = _parts(token)
    forged = pyjwt.encode(payload, b"k" * 32, algorithm="HS256", headers={"kid": header["kid"]})
    with pytest.raises(TokenError) as err:
        ring.verify(forged, T0)
    assert not err.value.expired


def test_alg_none_is_refused(ring):
    token, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    header, payload, _ = _parts(token)
    unsigned = f"{_b64({'alg': 'none', 'kid': header['kid']})}.{_b64(payload)}."
    with pytest.raises(TokenError, match="HS256"):
        ring.verify(unsigned, T0)


def test_forged_role_claim_breaks_the_signature(ring):
    token, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    header, payload, sig = _parts(token)
    payload["role"] = "admin"
    forged = f"{_b64(header)}.{_b64(payload)}.{sig}"
    with pytest.raises(TokenError, match="signature"):
        ring.verify(forged, T0)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_algorithms_are_refused_even_with_the_right_key(ring, tmp_path, alg):
    key = json.loads((tmp_path / "state" / "jwt.key").read_text())["keys"][0]
    raw = base64.urlsafe_b64decode(key["secret"] + "=" * (-len(key["secret"]) % 4))
    token, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    _, payload, _ = _parts(token)
    with warnings.catch_warnings():  # PyJWT warns that 32 bytes are short for HS384/512
        warnings.simplefilter("ignore")
        other = pyjwt.encode(payload, raw, algorithm=alg, headers={"kid": key["kid"]})
    with pytest.raises(TokenError):
        ring.verify(other, T0)


@pytest.mark.parametrize("text", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "....", "é.é.é"])
def test_garbage_is_refused_without_a_crash(ring, text):
    with pytest.raises(TokenError):
        ring.verify(text, T0)


def test_unknown_kid_is_refused(ring):
    token, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    header, payload, sig = _parts(token)
    header["kid"] = "nope"
    with pytest.raises(TokenError, match="key"):
        ring.verify(f"{_b64(header)}.{_b64(payload)}.{sig}", T0)


def test_rotation_keeps_the_old_key_until_its_tokens_expire(tmp_path, ring):
    old_kid = ring.current_kid
    old, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0)
    new_kid, until = ring.rotate(T0 + 100)
    assert new_kid != old_kid and until == T0 + 100 + TTL
    new, _ = ring.issue(sub="alice", role="viewer", sid="s1", now=T0 + 100)
    assert _parts(new)[0]["kid"] == new_kid
    assert ring.verify(old, T0 + 200).kid == old_kid
    assert ring.verify(new, T0 + 200).kid == new_kid
    # After the old key's last possible token expired, the key itself is dropped.
    later = KeyRing(tmp_path / "state" / "jwt.key", access_ttl_s=TTL, now=until + 1)
    assert later.kids == [new_kid]
    assert stat.S_IMODE((tmp_path / "state" / "jwt.key").stat().st_mode) == 0o600


def test_rotating_twice_leaves_no_key_forever(ring):
    ring.rotate(T0)
    ring.rotate(T0 + 10)
    assert len(ring.kids) == 3
    ring.rotate(T0 + TTL + 20)
    assert len(ring.kids) == 2  # the two retired more than a TTL ago are gone
