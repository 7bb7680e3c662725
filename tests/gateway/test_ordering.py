"""Pipelined requests: answers come back in request order, whoever produced them."""

from __future__ import annotations

import asyncio
import datetime
import struct
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from kio.schema.api_versions.v3 import ApiVersionsRequest
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v9 import MetadataRequest
from kio.schema.metadata.v9.request import MetadataRequestTopic
from kio.schema.produce.v9 import ProduceRequest
from kio.schema.produce.v9.request import PartitionProduceData, TopicProduceData

from bus.gateway.codec import decode_response, encode_request

if TYPE_CHECKING:
    from conftest import GatewayFactory, Team

pytestmark = pytest.mark.e2e


def header(request: Any, correlation_id: int) -> Any:
    kind = type(request).__header_schema__
    return kind(
        request_api_key=type(request).__api_key__,
        request_api_version=type(request).__version__,
        correlation_id=correlation_id,
        client_id="pipeline",
    )


def produce(topic: str, acks: int) -> ProduceRequest:
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 2**31 - 1)
    builder.append(0, 1_700_000_000_000, None, b"x", [("membrane-kind", b"task")])
    records = bytes(builder.build())
    return ProduceRequest(
        transactional_id=None,
        acks=acks,
        timeout=datetime.timedelta(seconds=5),
        topic_data=(
            TopicProduceData(
                name=topic, partition_data=(PartitionProduceData(index=0, records=records),)
            ),
        ),
    )


async def test_local_answers_wait_their_turn_behind_forwarded_ones(
    team: Team, sidecar: GatewayFactory
) -> None:
    alice = await sidecar("alice")
    requests = [
        (
            1,
            MetadataRequest(
                topics=(MetadataRequestTopic(name=team.inbox("bob")),),
                allow_auto_topic_creation=True,
                include_cluster_authorized_operations=False,
                include_topic_authorized_operations=False,
            ),
        ),
        (2, produce(team.inbox("carol"), acks=1)),  # refused: answered by the gateway
        (3, ApiVersionsRequest(client_software_name="t", client_software_version="1")),
        (4, produce(team.inbox("carol"), acks=0)),  # refused, and acks=0: no answer at all
        (
            5,
            MetadataRequest(
                topics=(),
                allow_auto_topic_creation=False,
                include_cluster_authorized_operations=False,
                include_topic_authorized_operations=False,
            ),
        ),
    ]
    host, port = alice.bootstrap.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"".join(encode_request(header(r, cid), r) for cid, r in requests))
        await writer.drain()
        answers = []
        async with asyncio.timeout(30):
            for _ in range(4):
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                answers.append(await reader.readexactly(size))
    finally:
        writer.close()
        await writer.wait_closed()

    assert [struct.unpack(">i", a[:4])[0] for a in answers] == [1, 2, 3, 5]
    metadata = decode_response(3, 9, answers[0])
    route = alice.brokers.routes()[0]
    assert [(b.host, b.port) for b in metadata.brokers] == [("127.0.0.1", route.local_port)]
    refused = decode_response(0, 9, answers[1])
    [partition] = refused.responses[0].partition_responses
    assert partition.error_code == ErrorCode.topic_authorization_failed
    assert decode_response(18, 3, answers[2]).error_code == ErrorCode.none
