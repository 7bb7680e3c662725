"""Who a connection is: the sidecar's agent, a mapped client id, or the SASL principal.

SASL exchanges pass through unchanged; the gateway only reads the user name
from the client's first SaslAuthenticate message (PLAIN: ``authzid NUL
authcid NUL password``; SCRAM: ``n,,n=user,r=nonce``) and adopts it once the
broker answers without error. Until then the connection has no identity, and
an unidentified connection may use no topic.
"""

from __future__ import annotations

from bus.gateway import versions as api
from bus.gateway.codec import decode_request, decode_response
from bus.gateway.frames import framed
from bus.gateway.plan import Plan, ResponseTransform
from bus.gateway.session import Session


def plain_user(auth: bytes) -> str | None:
    parts = auth.split(b"\0")
    if len(parts) != 3 or not parts[1]:
        return None
    return _text(parts[1])


def scram_user(auth: bytes) -> str | None:
    """The ``n=`` attribute of a SCRAM client-first message (RFC 5802), unescaped."""
    text = _text(auth)
    if text is None:
        return None
    _, _, bare = text.partition(",")  # gs2 channel-binding flag
    _, _, bare = bare.partition(",")  # gs2 authzid
    for attribute in bare.split(","):
        if attribute.startswith("n="):
            name = attribute[2:].replace("=2C", ",").replace("=3D", "=")
            return name or None
    return None


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def user_of(mechanism: str | None, auth: bytes) -> str | None:
    if mechanism == "PLAIN":
        return plain_user(auth)
    if mechanism is not None and mechanism.startswith("SCRAM-"):
        return scram_user(auth)
    return None


def identify_by_client_id(session: Session, client_id: str | None) -> None:
    holder = session.state.holder
    if holder is None or client_id is None:
        return
    session.agent = holder.current.rules.gateway.client_ids.get(client_id)


def plan_sasl_handshake(session: Session, body: bytes, version: int) -> Plan:
    _, request = decode_request(api.SASL_HANDSHAKE, version, body)
    session.mechanism = request.mechanism
    return Plan.passthrough(framed(body))


def plan_sasl_authenticate(session: Session, body: bytes, version: int) -> Plan:
    """Pass the exchange through; adopt the user as the agent when the broker accepts it."""
    _, request = decode_request(api.SASL_AUTHENTICATE, version, body)
    user = user_of(session.mechanism, request.auth_bytes)
    if user is None:
        return Plan.passthrough(framed(body))
    return Plan.passthrough(framed(body), _adopt(session, version, user))


def _adopt(session: Session, version: int, user: str) -> ResponseTransform:
    def transform(answer: bytes) -> bytes:
        response = decode_response(api.SASL_AUTHENTICATE, version, answer)
        holder = session.state.holder
        if response.error_code == 0 and holder is not None:
            session.agent = holder.current.rules.gateway.principals.get(user, user)
        return framed(answer)

    return transform
