"""Which Kafka APIs the gateway inspects, and the versions it offers clients.

A client learns what it may send from the ApiVersions response. The gateway
answers with the broker's list, narrowed so that every API it must inspect is
offered only at versions kio can decode *and* the broker supports, and with
the APIs removed whose responses carry broker addresses or topic listings the
gateway does not rewrite (a client would otherwise connect around it or see
hidden topics). Every other API passes through at the broker's versions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache
from typing import Final

from bus.gateway.codec import Message, request_type, response_type

PRODUCE: Final = 0
FETCH: Final = 1
METADATA: Final = 3
FIND_COORDINATOR: Final = 10
SASL_HANDSHAKE: Final = 17
API_VERSIONS: Final = 18
SASL_AUTHENTICATE: Final = 36
DESCRIBE_CLUSTER: Final = 60

# Highest versions the gateway's own logic is written for (kio may know newer
# ones). Produce v13 addresses topics by id only; clients fall back to v12.
CEILINGS: Final[Mapping[int, int]] = {PRODUCE: 12}
# Lowest: Metadata v0 reads an empty topic list as "all topics", so a request
# whose every topic is refused could not be forwarded; after SaslHandshake v0
# the SASL tokens travel outside Kafka's request framing.
FLOORS: Final[Mapping[int, int]] = {METADATA: 1, SASL_HANDSHAKE: 1}

INSPECTED: Final = frozenset(
    {
        PRODUCE,
        FETCH,
        METADATA,
        FIND_COORDINATOR,
        SASL_HANDSHAKE,
        API_VERSIONS,
        SASL_AUTHENTICATE,
        DESCRIBE_CLUSTER,
    }
)

# DescribeQuorum (controller addresses), DescribeTopicPartitions (a topic listing
# outside Metadata), ShareFetch and ShareAcknowledge (node endpoints).
HIDDEN: Final = frozenset({55, 75, 78, 79})

_PROBE_LIMIT = 32


@cache
def decodable_range(api_key: int) -> tuple[int, int] | None:
    """The contiguous versions of an API for which kio has both schemas."""
    versions = [
        v
        for v in range(_PROBE_LIMIT)
        if request_type(api_key, v) is not None and response_type(api_key, v) is not None
    ]
    if not versions:
        return None
    low = versions[0]
    high = low
    while high + 1 in versions:
        high += 1
    return max(low, FLOORS.get(api_key, low)), min(high, CEILINGS.get(api_key, high))


def narrow(response: Message) -> Message:
    """The ApiVersions response a client of the gateway should see."""
    if response.error_code != 0:
        return response
    kept = []
    for entry in response.api_keys:
        key = int(entry.api_key)
        if key in HIDDEN:
            continue
        if key in INSPECTED:
            supported = decodable_range(key)
            if supported is None:
                continue
            low = max(int(entry.min_version), supported[0])
            high = min(int(entry.max_version), supported[1])
            if low > high:
                continue
            entry = dataclasses.replace(entry, min_version=low, max_version=high)
        kept.append(entry)
    return dataclasses.replace(response, api_keys=tuple(kept))
