"""Request dispatch: which requests the gateway inspects, and how.

``plan_request`` is the single entry point the connection calls per request.
Only the APIs in ``versions.INSPECTED`` are decoded; everything else is
forwarded byte for byte and its response passed back untouched.
"""

from __future__ import annotations

from bus.errors import ProtocolError
from bus.gateway import versions as api
from bus.gateway.codec import decode_response, encode_response, request_type
from bus.gateway.fetch import plan_fetch
from bus.gateway.frames import framed, read_request_prefix
from bus.gateway.identity import (
    identify_by_client_id,
    plan_sasl_authenticate,
    plan_sasl_handshake,
)
from bus.gateway.metadata import plan_metadata
from bus.gateway.plan import Plan, ResponseTransform
from bus.gateway.produce import plan_produce
from bus.gateway.rewrite import rewrite_addresses
from bus.gateway.session import Session
from bus.gateway.stats import api_name


def address_transform(
    session: Session, api_key: int, version: int, correlation_id: int
) -> ResponseTransform:
    """Decode the response, replace broker addresses, encode it again."""
    brokers = session.state.brokers

    def transform(body: bytes) -> bytes:
        response = decode_response(api_key, version, body)
        return encode_response(correlation_id, rewrite_addresses(api_key, response, brokers))

    return transform


def api_versions_transform(version: int, correlation_id: int) -> ResponseTransform:
    def transform(body: bytes) -> bytes:
        # An error answer is always in v0 layout (the client retries lower): pass it on.
        if len(body) >= 6 and body[4:6] != b"\x00\x00":
            return framed(body)
        response = decode_response(api.API_VERSIONS, version, body)
        return encode_response(correlation_id, api.narrow(response))

    return transform


def _check_version(api_key: int, version: int) -> None:
    """Refuse inspected APIs at versions the gateway did not offer."""
    if api_key in api.HIDDEN:
        raise ProtocolError("hidden-api", f"API {api_key} is not offered through the gateway")
    if api_key in api.INSPECTED:
        supported = api.decodable_range(api_key)
        if supported is None or not supported[0] <= version <= supported[1]:
            raise ProtocolError(
                "unsupported-version",
                f"{api_name(api_key)} v{version} is not offered through the gateway",
            )


async def plan_request(session: Session, body: bytes) -> Plan:
    """Decide what to do with one request frame body."""
    prefix = read_request_prefix(body)
    if prefix.client_id != session.client_id:
        session.client_id = prefix.client_id
        if session.state.identity == "client-id":
            identify_by_client_id(session, prefix.client_id)
    plan = await _plan(session, body, prefix.api_key, prefix.api_version, prefix.correlation_id)
    outcome = "forwarded" if plan.forward is not None else "answered"
    session.state.stats.count_request(prefix.api_key, outcome)
    return plan


async def _plan(session: Session, body: bytes, key: int, version: int, correlation_id: int) -> Plan:
    if key == api.API_VERSIONS and request_type(key, version) is None:
        # A newer ApiVersions than the gateway knows: the broker answers with a v0
        # error listing its range, and the client retries with a version in it.
        return Plan.passthrough(framed(body))
    _check_version(key, version)
    if key == api.API_VERSIONS:
        return Plan.passthrough(framed(body), api_versions_transform(version, correlation_id))
    if key == api.METADATA:
        return plan_metadata(session, body, version, correlation_id)
    if key == api.PRODUCE:
        return await plan_produce(session, body, version, correlation_id)
    if key == api.FETCH:
        return plan_fetch(session, body, version, correlation_id)
    if session.state.identity == "sasl" and key == api.SASL_HANDSHAKE:
        return plan_sasl_handshake(session, body, version)
    if session.state.identity == "sasl" and key == api.SASL_AUTHENTICATE:
        return plan_sasl_authenticate(session, body, version)
    if key in (api.FIND_COORDINATOR, api.DESCRIBE_CLUSTER):
        transform = address_transform(session, key, version, correlation_id)
        return Plan.passthrough(framed(body), transform)
    return Plan.passthrough(framed(body))
