"""Request dispatch: which requests the gateway inspects, and how.

``plan_request`` is the single entry point the connection calls per request.
Only the APIs in ``versions.INSPECTED`` are decoded; everything else is
forwarded byte for byte and its response passed back untouched.
"""

from __future__ import annotations

from bus.errors import ProtocolError
from bus.gateway import versions as api
from bus.gateway.codec import decode_request, decode_response, encode_response, request_type
from bus.gateway.frames import framed, read_request_prefix
from bus.gateway.plan import Plan, ResponseTransform
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
    key, version, correlation_id = prefix.api_key, prefix.api_version, prefix.correlation_id
    if prefix.client_id is not None:
        session.client_id = prefix.client_id
    counter = session.state.metrics.gateway_requests
    if key == api.API_VERSIONS and request_type(key, version) is None:
        # A newer ApiVersions than the gateway knows: the broker would answer with a
        # v0 error listing its range; let it, and the client retries lower.
        counter.labels(api=api_name(key), outcome="forwarded").inc()
        return Plan.passthrough(framed(body))
    _check_version(key, version)
    counter.labels(api=api_name(key), outcome="forwarded").inc()
    if key == api.API_VERSIONS:
        return Plan.passthrough(framed(body), api_versions_transform(version, correlation_id))
    if key in (api.METADATA, api.FIND_COORDINATOR, api.DESCRIBE_CLUSTER):
        return Plan.passthrough(
            framed(body), address_transform(session, key, version, correlation_id)
        )
    if key == api.PRODUCE:
        _, request = decode_request(key, version, body)
        transform = (
            address_transform(session, key, version, correlation_id) if version >= 10 else None
        )
        return Plan(forward=framed(body), transform=transform, expects_response=request.acks != 0)
    if key == api.FETCH and version >= 16:
        return Plan.passthrough(
            framed(body), address_transform(session, key, version, correlation_id)
        )
    return Plan.passthrough(framed(body))
