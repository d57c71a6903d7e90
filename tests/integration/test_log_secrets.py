"""Secrets never reach the node's logs or output: every secret-handling path is exercised
on a real node logging at DEBUG, then every file under logs/ and the process output are
searched for each secret (and the audit log, which must not hold them either)."""

from __future__ import annotations

import datetime
import ssl
import subprocess

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.nodeproc import SENTRA, NodeProcess, create_token, wait_for

PASSWORD = "correct-Horse-battery-staple-4791"
WRONG_PASSWORD = "wrong-Horse-battery-staple-0000"
FAKE_TOKEN = "sentra_0badc0de_NotARealSecretButSecretLooking0000000000000"


def _tls_files(folder):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(pem)
    (folder / "key.pem").chmod(0o600)
    return folder / "cert.pem", folder / "key.pem", pem


def test_no_secret_reaches_the_logs_or_the_output(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cert, key, pem = _tls_files(tmp_path)
    admin = create_token(data, "admin", "secrets-admin")
    operator = create_token(data, "operator", "secrets-ingest")
    proc = NodeProcess(
        data,
        env={
            "SENTRA_LOG_LEVEL": "DEBUG",
            "SENTRA_SERVER_TLS_CERT": str(cert),
            "SENTRA_SERVER_TLS_KEY": str(key),
        },
    )
    proc.url = proc.url.replace("http://", "https://")
    trust = ssl.create_default_context(cafile=str(cert))
    trust.check_hostname = False  # the certificate names localhost; the node binds 127.0.0.1
    secrets = [admin, operator, FAKE_TOKEN, PASSWORD, WRONG_PASSWORD]
    secrets += [line for line in pem.decode().splitlines() if "-----" not in line]
    proc.proc = subprocess.Popen(
        [SENTRA, "up", "--data-dir", str(data), "--port", str(proc.port)],
        env=proc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def up() -> bool:
        try:
            return httpx.get(f"{proc.url}/api/health", verify=trust, timeout=1).is_success
        except httpx.HTTPError:
            return False

    audit = ""
    try:
        wait_for(up, timeout=30)
        auth = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=proc.url, verify=trust, timeout=15) as c:
            # A token made over the API, used for ingest, by header and by query string.
            routes = c.get("/openapi.json").json()["paths"]
            if "/api/v1/tokens" in routes:
                made = c.post("/api/v1/tokens", headers=auth, json={"name": "t2", "role": "viewer"})
                assert made.status_code == 201, made.text
                secrets.append(made.json()["token"])
            batch = {"metrics": [{"name": "secrets.test", "value": 1.0}]}
            ingest = {"Authorization": f"Bearer {operator}"}
            assert c.post("/api/v1/ingest", headers=ingest, json=batch).status_code == 200
            c.post("/api/v1/ingest", params={"access_token": operator}, json=batch)
            for bad in (FAKE_TOKEN, f"{FAKE_TOKEN}.x.y"):
                assert (
                    c.get("/api/v1/series", headers={"Authorization": f"Bearer {bad}"}).status_code
                    == 401
                )
            with c.stream("GET", "/api/v1/stream", params={"access_token": operator}) as s:
                assert s.status_code == 200
            # Sign-in with a password, when this node has users (the accounts routes).
            user = {"name": "alice", "role": "operator", "password": PASSWORD}
            if "/api/v1/auth/login" in routes:
                assert c.post("/api/v1/users", headers=auth, json=user).status_code == 201
                login = {"username": "alice", "password": PASSWORD}
                signed = c.post("/api/v1/auth/login", json=login)
                assert signed.status_code == 200, signed.text
                secrets.append(signed.json()["access_token"])
                secrets.extend(v for k, v in signed.cookies.items())
                wrong = {"username": "alice", "password": WRONG_PASSWORD}
                assert c.post("/api/v1/auth/login", json=wrong).status_code == 401
                short = {"username": "alice", "password": "x" * 2000}  # a validation error
                assert c.post("/api/v1/auth/login", json=short).status_code == 400
                secrets.append("x" * 2000)
            audit = c.get("/api/v1/audit", headers=auth, params={"limit": 1000}).text
    finally:
        assert proc.stop() == 0
    texts = {"process output": proc.output, "audit log": audit}
    for path in sorted((data / "logs").rglob("*")):
        if path.is_file():
            texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    main_log = texts[str(data / "logs" / "sentra.log")]
    assert "listening" in main_log and "https://" in main_log  # the log was written, TLS on
    assert '"actor":"secrets-admin"' in audit.replace(" ", "")  # the audit log was read
    leaks = [
        (where, secret[:12] + "…")
        for where, text in texts.items()
        for secret in secrets
        if secret and secret in text
    ]
    assert not leaks, leaks
