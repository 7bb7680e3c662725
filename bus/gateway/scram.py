"""The client side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677).

Three messages: ``first()`` sends the user name and a client nonce;
``final(server_first)`` proves knowledge of the password from the server's
salt, iteration count and combined nonce; ``verify(server_final)`` checks the
server's signature, so a server that does not know the password is caught.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from bus.errors import ProtocolError

HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
MIN_ITERATIONS = 4096  # RFC 7677's floor; Kafka's default


def _escape(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _attributes(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("sasl", "SCRAM server message is not UTF-8") from None
    pairs = (part.split("=", 1) for part in text.split(","))
    return {p[0]: p[1] for p in pairs if len(p) == 2}


class ScramClient:
    __slots__ = ("_first_bare", "_hash", "_nonce", "_password", "_server_signature", "user")

    def __init__(self, mechanism: str, user: str, password: str, nonce: str | None = None) -> None:
        if mechanism not in HASHES:
            raise ValueError(f"unsupported SCRAM mechanism {mechanism!r}")
        self._hash = HASHES[mechanism]
        self.user = user
        self._password = password
        self._nonce = nonce or secrets.token_urlsafe(24)
        self._first_bare = f"n={_escape(user)},r={self._nonce}"
        self._server_signature = b""

    def first(self) -> bytes:
        return f"n,,{self._first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        fields = _attributes(server_first)
        nonce, salt, rounds = fields.get("r", ""), fields.get("s"), fields.get("i", "")
        if not nonce.startswith(self._nonce) or salt is None or not rounds.isdigit():
            raise ProtocolError("sasl", "SCRAM server-first message is malformed")
        if int(rounds) < MIN_ITERATIONS:
            raise ProtocolError("sasl", f"SCRAM iteration count {rounds} is below {MIN_ITERATIONS}")
        salted = hashlib.pbkdf2_hmac(
            self._hash, self._password.encode(), base64.b64decode(salt), int(rounds)
        )
        client_key = hmac.digest(salted, b"Client Key", self._hash)
        stored_key = hashlib.new(self._hash, client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, self._hash)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", self._hash)
        self._server_signature = hmac.digest(server_key, auth_message, self._hash)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        fields = _attributes(server_final)
        if "e" in fields:
            raise ProtocolError("sasl", f"SCRAM authentication failed: {fields['e']}")
        expected = base64.b64encode(self._server_signature).decode()
        if not hmac.compare_digest(fields.get("v", ""), expected):
            raise ProtocolError("sasl", "SCRAM server signature does not match")
