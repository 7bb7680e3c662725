"""Metadata through the gateway: hide what the agent may not use, rewrite addresses.

Topics the client names but may not use are taken out of the request (so the
broker does not auto-create them on its behalf) and answered with
TOPIC_AUTHORIZATION_FAILED; a request for all topics gets the broker's list
with every topic the agent may not use left out. Topic ids from the upstream
answer are learned before anything is hidden (``topic_ids``).
"""

from __future__ import annotations

import dataclasses
import uuid

from kio.schema.errors import ErrorCode

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
from bus.gateway.rewrite import rewrite_metadata
from bus.gateway.session import Session

ZERO_ID = uuid.UUID(int=0)


def plan_metadata(session: Session, body: bytes, version: int, correlation_id: int) -> Plan:
    header, request = decode_request(api.METADATA, version, body)
    access = session.access()
    ids = session.state.topic_ids
    refused: list[Message] = []
    forward = framed(body)
    if session.enforcing and request.topics is not None:
        kept = []
        for topic in request.topics:
            name = getattr(topic, "name", None) or ids.name_of(getattr(topic, "topic_id", None))
            if name is not None and access is not None and access.visible(name):
                kept.append(topic)
            else:
                refused.append(topic)
        if refused:
            forward = encode_request(header, dataclasses.replace(request, topics=tuple(kept)))
            session.state.metrics.gateway_denied.labels(
                api="metadata", reason="topic-authorization"
            ).inc(len(refused))
    return Plan.passthrough(forward, _transform(session, version, correlation_id, refused))


def _transform(
    session: Session, version: int, correlation_id: int, refused: list[Message]
) -> ResponseTransform:
    def transform(body: bytes) -> bytes:
        response = decode_response(api.METADATA, version, body)
        for topic in response.topics:
            session.state.topic_ids.learn(getattr(topic, "topic_id", None), topic.name)
        if session.enforcing:
            response = _filter(session, response, refused)
        return encode_response(correlation_id, rewrite_metadata(response, session.state.brokers))

    return transform


def _filter(session: Session, response: Message, refused: list[Message]) -> Message:
    access = session.access()
    kept = [
        t
        for t in response.topics
        if t.name is not None and access is not None and access.visible(t.name)
    ]
    entry = nested(type(response), "MetadataResponseTopic")
    for topic in refused:
        kept.append(
            build(
                entry,
                error_code=ErrorCode.topic_authorization_failed,
                name=getattr(topic, "name", None),
                topic_id=getattr(topic, "topic_id", None) or ZERO_ID,
                is_internal=False,
                partitions=(),
            )
        )
    return dataclasses.replace(response, topics=tuple(kept))
