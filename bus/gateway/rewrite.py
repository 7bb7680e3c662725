"""Replace every broker address in a response with its gateway address.

Addresses travel in Metadata (``brokers``), FindCoordinator (one node before
v4, ``coordinators`` from v4), DescribeCluster (``brokers``), and the
``node_endpoints`` that Produce (v10+) and Fetch (v16+) responses carry when
leadership moved. The field names are the same across versions in kio's
schemas, so one function per shape serves every version.
"""

from __future__ import annotations

import dataclasses

from bus.gateway import versions as api
from bus.gateway.addressing import BrokerMap
from bus.gateway.codec import Message


def _node(entry: Message, brokers: BrokerMap, id_field: str = "node_id") -> Message:
    node_id = int(getattr(entry, id_field))
    if node_id < 0 or not entry.host:
        return entry  # "no coordinator" and similar error placeholders
    host, port = brokers.local_address(node_id, entry.host, int(entry.port))
    return dataclasses.replace(entry, host=host, port=port)


def _nodes(
    entries: tuple[Message, ...], brokers: BrokerMap, id_field: str = "node_id"
) -> tuple[Message, ...]:
    return tuple(_node(e, brokers, id_field) for e in entries)


def rewrite_metadata(response: Message, brokers: BrokerMap) -> Message:
    return dataclasses.replace(response, brokers=_nodes(response.brokers, brokers))


def rewrite_find_coordinator(response: Message, brokers: BrokerMap) -> Message:
    if hasattr(response, "coordinators"):
        return dataclasses.replace(response, coordinators=_nodes(response.coordinators, brokers))
    return _node(response, brokers)


def rewrite_describe_cluster(response: Message, brokers: BrokerMap) -> Message:
    return dataclasses.replace(response, brokers=_nodes(response.brokers, brokers, "broker_id"))


def rewrite_node_endpoints(response: Message, brokers: BrokerMap) -> Message:
    endpoints = getattr(response, "node_endpoints", ())
    if not endpoints:
        return response
    return dataclasses.replace(response, node_endpoints=_nodes(endpoints, brokers))


REWRITERS = {
    api.METADATA: rewrite_metadata,
    api.FIND_COORDINATOR: rewrite_find_coordinator,
    api.DESCRIBE_CLUSTER: rewrite_describe_cluster,
    api.PRODUCE: rewrite_node_endpoints,
    api.FETCH: rewrite_node_endpoints,
}


def rewrite_addresses(api_key: int, response: Message, brokers: BrokerMap) -> Message:
    """The response with every broker address replaced (unchanged for other APIs)."""
    rewriter = REWRITERS.get(api_key)
    return rewriter(response, brokers) if rewriter is not None else response
