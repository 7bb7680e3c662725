"""Address rewriting for multi-broker clusters, at several API versions.

Each response is built with kio's own types, encoded to wire bytes, fed
through the gateway's response transform, decoded again, and every broker
address checked: the advertised host, one distinct local port per node id
(the same port whichever API or version named the node), and the route from
that port back to the broker's real address.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from bus.gateway import versions as api
from bus.gateway.addressing import BrokerMap
from bus.gateway.codec import decode_response, encode_response, response_type
from bus.gateway.handlers import address_transform
from bus.gateway.session import GatewayState, Session
from bus.metrics import Metrics

CLUSTER = {
    1: ("kafka-0.internal", 9092),
    2: ("kafka-1.internal", 9093),
    7: ("kafka-2.internal", 19092),
}
ADVERTISED = "gw.local"


def _nested(kind: type[Any], name: str) -> type[Any]:
    return getattr(sys.modules[kind.__module__], name)  # type: ignore[no-any-return]


def _build(kind: type[Any], **values: Any) -> Any:
    """Instantiate a kio entity with the given values for the fields this version has."""
    names = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in values.items() if k in names})


ZERO = datetime.timedelta(0)


def metadata(version: int) -> Any:
    kind = response_type(api.METADATA, version)
    broker = _nested(kind, "MetadataResponseBroker")
    topic = _nested(kind, "MetadataResponseTopic")
    partition = _nested(kind, "MetadataResponsePartition")
    brokers = tuple(
        _build(broker, node_id=n, host=h, port=p, rack=None) for n, (h, p) in CLUSTER.items()
    )
    parts = tuple(
        _build(
            partition,
            error_code=ErrorCode.none,
            partition_index=i,
            leader_id=n,
            replica_nodes=(n,),
            isr_nodes=(n,),
            offline_replicas=(),
        )
        for i, n in enumerate(CLUSTER)
    )
    topics = (
        _build(
            topic,
            error_code=ErrorCode.none,
            name="orders",
            topic_id=None,
            is_internal=False,
            partitions=parts,
        ),
    )
    return _build(
        kind, throttle_time=ZERO, brokers=brokers, cluster_id="c", controller_id=2, topics=topics
    )


def find_coordinator(version: int) -> Any:
    kind = response_type(api.FIND_COORDINATOR, version)
    if version < 4:
        host, port = CLUSTER[7]
        return _build(
            kind,
            throttle_time=ZERO,
            error_code=ErrorCode.none,
            error_message=None,
            node_id=7,
            host=host,
            port=port,
        )
    coordinator = _nested(kind, "Coordinator")
    coordinators = tuple(
        coordinator(
            key=f"group-{n}",
            node_id=n,
            host=h,
            port=p,
            error_code=ErrorCode.none,
            error_message=None,
        )
        for n, (h, p) in CLUSTER.items()
    )
    return kind(throttle_time=ZERO, coordinators=coordinators)


def describe_cluster(version: int) -> Any:
    kind = response_type(api.DESCRIBE_CLUSTER, version)
    broker = _nested(kind, "DescribeClusterBroker")
    brokers = tuple(broker(broker_id=n, host=h, port=p, rack="r") for n, (h, p) in CLUSTER.items())
    return _build(
        kind,
        throttle_time=ZERO,
        error_code=ErrorCode.none,
        error_message=None,
        cluster_id="c",
        controller_id=1,
        brokers=brokers,
    )


def with_endpoints(api_key: int, version: int) -> Any:
    kind = response_type(api_key, version)
    endpoint = _nested(kind, "NodeEndpoint")
    endpoints = tuple(
        endpoint(node_id=n, host=h, port=p, rack=None) for n, (h, p) in CLUSTER.items()
    )
    return _build(
        kind,
        throttle_time=ZERO,
        error_code=ErrorCode.none,
        session_id=0,
        responses=(),
        node_endpoints=endpoints,
    )


def addresses(response: Any) -> list[tuple[int, str, int]]:
    """(node id, host, port) of every broker address in a response of any shape."""
    if hasattr(response, "coordinators"):
        return [(c.node_id, c.host, c.port) for c in response.coordinators]
    if hasattr(response, "node_endpoints"):
        return [(e.node_id, e.host, e.port) for e in response.node_endpoints]
    if hasattr(response, "brokers"):
        return [
            (getattr(b, "node_id", getattr(b, "broker_id", -1)), b.host, b.port)
            for b in response.brokers
        ]
    return [(response.node_id, response.host, response.port)]


@pytest.fixture
def gateway_session() -> Session:
    ports = iter(range(40001, 40100))
    brokers = BrokerMap(ADVERTISED, lambda node_id: next(ports))
    return Session(GatewayState(brokers, Metrics()), "test", "alice")


CASES = [
    *[(api.METADATA, v, metadata) for v in (0, 1, 5, 9, 12)],
    *[(api.FIND_COORDINATOR, v, find_coordinator) for v in (0, 2, 3, 4, 6)],
    *[(api.DESCRIBE_CLUSTER, v, describe_cluster) for v in (0, 1)],
    (api.PRODUCE, 10, lambda v: with_endpoints(api.PRODUCE, v)),
    (api.FETCH, 16, lambda v: with_endpoints(api.FETCH, v)),
    (api.FETCH, 17, lambda v: with_endpoints(api.FETCH, v)),
]


@pytest.mark.parametrize(("api_key", "version", "build"), CASES)
def test_every_broker_address_is_rewritten(
    gateway_session: Session, api_key: int, version: int, build: Any
) -> None:
    original = build(version)
    before = addresses(original)
    assert before and all(host.endswith(".internal") for _, host, _ in before)

    wire = encode_response(4321, original)[4:]  # a response body as read off the socket
    out = address_transform(gateway_session, api_key, version, 4321)(wire)
    assert int.from_bytes(out[:4], "big") == len(out) - 4
    rewritten = decode_response(api_key, version, out[4:])
    after = addresses(rewritten)

    brokers = gateway_session.state.brokers
    assert [n for n, _, _ in after] == [n for n, _, _ in before]
    for (_, host, port), (_, old_host, old_port) in zip(after, before, strict=True):
        assert host == ADVERTISED
        assert brokers.upstream_for_port(port) == (old_host, old_port)
    assert len({port for _, _, port in after}) == len(after)
    if api_key == api.METADATA:
        assert rewritten.topics == original.topics  # only addresses change


def test_a_node_keeps_its_port_across_apis_and_versions(gateway_session: Session) -> None:
    seen: dict[int, set[int]] = {}
    for api_key, version, build in CASES:
        body = encode_response(1, build(version))[4:]
        out = address_transform(gateway_session, api_key, version, 1)(body)
        for node, _, port in addresses(decode_response(api_key, version, out[4:])):
            seen.setdefault(node, set()).add(port)
    assert set(seen) == set(CLUSTER)
    assert all(len(ports) == 1 for ports in seen.values())
    assert len({next(iter(p)) for p in seen.values()}) == len(CLUSTER)
    assert len(gateway_session.state.brokers) == len(CLUSTER)


def test_a_moved_broker_keeps_its_port_and_gets_the_new_route(gateway_session: Session) -> None:
    brokers = gateway_session.state.brokers
    first = brokers.local_address(1, "old.internal", 9092)
    second = brokers.local_address(1, "new.internal", 9094)
    assert first == second
    assert brokers.upstream_for_port(first[1]) == ("new.internal", 9094)


def test_error_placeholders_are_left_alone(gateway_session: Session) -> None:
    kind = response_type(api.FIND_COORDINATOR, 3)
    none_found = kind(
        throttle_time=ZERO,
        error_code=ErrorCode.coordinator_not_available,
        error_message="no coordinator",
        node_id=-1,
        host="",
        port=-1,
    )
    out = address_transform(gateway_session, api.FIND_COORDINATOR, 3, 9)(
        encode_response(9, none_found)[4:]
    )
    assert decode_response(api.FIND_COORDINATOR, 3, out[4:]) == none_found
    assert len(gateway_session.state.brokers) == 0


def test_the_broker_map_is_bounded() -> None:
    ports = iter(range(50000, 50010))
    brokers = BrokerMap(ADVERTISED, lambda node_id: next(ports), max_nodes=2)
    brokers.local_address(1, "a", 1)
    brokers.local_address(2, "b", 1)
    with pytest.raises(Exception, match="more than 2 brokers"):
        brokers.local_address(3, "c", 1)
