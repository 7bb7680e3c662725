"""Fetch through the gateway: authorise topics, cut channel views, rewrite endpoints.

An agent may fetch its own inbox and the shared channel topics (``access``).
Other topics are taken out of the request and answered with
TOPIC_AUTHORIZATION_FAILED (UNKNOWN_TOPIC_ID for an id the gateway has not
learned yet; the client then refreshes its metadata). Channel partitions in
the answer are replaced by the agent's view (``views``). A fetch of the
agent's inbox alone, at a version without node endpoints, is passed back
byte for byte: the fast path for the common case.
"""

from __future__ import annotations

import dataclasses
import uuid

from kio.schema.errors import ErrorCode

from bus.errors import ProtocolError
from bus.gateway import versions as api
from bus.gateway.codec import (
    Message,
    build,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    nested,
)
from bus.gateway.frames import framed
from bus.gateway.plan import Plan, ResponseTransform
from bus.gateway.rewrite import rewrite_node_endpoints
from bus.gateway.session import Session
from bus.gateway.views import ViewCounts, view

TopicKey = str | uuid.UUID  # a name (v4-v12) or an id (v13+)


def _key(topic: Message) -> TopicKey:
    return topic.topic if hasattr(topic, "topic") else topic.topic_id  # type: ignore[no-any-return]


def plan_fetch(session: Session, body: bytes, version: int, correlation_id: int) -> Plan:
    header, request = decode_request(api.FETCH, version, body)
    if not session.enforcing:
        transform = _transform(session, version, correlation_id, [], set())
        return Plan.passthrough(framed(body), transform if version >= 16 else None)
    access = session.access()
    ids = session.state.topic_ids
    kept: list[Message] = []
    refused: list[tuple[Message, ErrorCode]] = []
    channels: set[TopicKey] = set()
    for topic in request.topics:
        key = _key(topic)
        name = key if isinstance(key, str) else ids.name_of(key)
        if name is None:
            refused.append((topic, ErrorCode.unknown_topic_id))
            continue
        source = access.fetch_source(name) if access is not None else None
        if source is None:
            refused.append((topic, ErrorCode.topic_authorization_failed))
            continue
        kept.append(topic)
        if source.startswith("#"):
            channels.add(key)
    forward = framed(body)
    if refused:
        forward = encode_request(header, dataclasses.replace(request, topics=tuple(kept)))
        denied = session.state.metrics.gateway_denied
        for _, error in refused:
            denied.labels(api="fetch", reason=error.name.replace("_", "-")).inc()
    if not refused and not channels and version < 16:
        return Plan.passthrough(forward)
    return Plan.passthrough(
        forward, _transform(session, version, correlation_id, refused, channels)
    )


def _transform(
    session: Session,
    version: int,
    correlation_id: int,
    refused: list[tuple[Message, ErrorCode]],
    channels: set[TopicKey],
) -> ResponseTransform:
    def transform(body: bytes) -> bytes:
        response = decode_response(api.FETCH, version, body)
        if channels:
            response = _views(session, response, channels)
        if refused:
            response = _add_refusals(response, refused)
        response = rewrite_node_endpoints(response, session.state.brokers)
        return encode_response(correlation_id, response)

    return transform


def _views(session: Session, response: Message, channels: set[TopicKey]) -> Message:
    holder = session.state.holder
    assert holder is not None and session.agent is not None
    policy = holder.current
    counts = ViewCounts()
    topics = []
    for topic in response.responses:
        if _key(topic) in channels:
            partitions = []
            for partition in topic.partitions:
                if partition.records:
                    try:
                        records = view(policy, session.agent, partition.records, counts)
                        partition = dataclasses.replace(partition, records=records)
                    except ProtocolError:
                        partition = dataclasses.replace(
                            partition, records=None, error_code=ErrorCode.corrupt_message
                        )
                partitions.append(partition)
            topic = dataclasses.replace(topic, partitions=tuple(partitions))
        topics.append(topic)
    counter = session.state.metrics.gateway_records
    counter.labels(outcome="hidden").inc(counts.hidden)
    counter.labels(outcome="shown").inc(counts.shown)
    return dataclasses.replace(response, responses=tuple(topics))


def _add_refusals(response: Message, refused: list[tuple[Message, ErrorCode]]) -> Message:
    topic_kind = nested(type(response), "FetchableTopicResponse")
    partition_kind = nested(type(response), "PartitionData")
    extra = []
    for topic, error in refused:
        partitions = tuple(
            build(
                partition_kind,
                partition_index=p.partition,
                error_code=error,
                high_watermark=-1,
                last_stable_offset=-1,
                log_start_offset=-1,
                aborted_transactions=None,
                preferred_read_replica=-1,
                records=None,
            )
            for p in topic.partitions
        )
        key = _key(topic)
        field = "topic" if isinstance(key, str) else "topic_id"
        extra.append(build(topic_kind, partitions=partitions, **{field: key}))
    return dataclasses.replace(response, responses=(*response.responses, *extra))
