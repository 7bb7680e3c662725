"""Fixtures of the security tests: certificates made with the openssl command."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

KEY_PASSWORD = "tls-key-passphrase-7c1d"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with KEY_PASSWORD


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and a client certificate whose key is
    encrypted, as a TLS-protected Kafka listener with client authentication needs."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    d = tmp_path_factory.mktemp("certificates")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=membrane test CA", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
             cwd=d)
    _openssl("genpkey", "-algorithm", "RSA", "-aes256", "-pass", f"pass:{KEY_PASSWORD}",
             "-out", "client.key", cwd=d)
    _openssl("req", "-new", "-key", "client.key", "-passin", f"pass:{KEY_PASSWORD}",
             "-out", "client.csr", "-subj", "/CN=membrane", cwd=d)
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "client.pem", "-days", "2", cwd=d)
    return Certificates(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
                        d / "client.key")


@pytest.fixture
def prefix() -> str:
    """Topic prefix of one test: the tests share the session's broker."""
    return f"sec{uuid.uuid4().hex[:8]}"
