"""Produce through the gateway: authorise topics, decide and stamp records, damp.

Per request: every topic the agent may not write is refused with
TOPIC_AUTHORIZATION_FAILED; every other partition batch is decided record by
record and stamped (``stamping``), or refused whole; the damping filters run
and may hold the request (``throttle``). What is left is re-encoded and
forwarded; the refusals are merged into the broker's answer (or answered
here when nothing was left to forward), with ``throttle_time_ms`` set to the
time held. Batches written to the agent's own outbox pass unchanged: the
relay reading it decides them.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from kio.schema.errors import ErrorCode

from bus.envelope import Envelope
from bus.gateway import versions as api
from bus.gateway.codec import (
    Message,
    build,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    has_field,
    nested,
    response_type,
)
from bus.gateway.frames import framed
from bus.gateway.plan import Plan, ResponseTransform
from bus.gateway.rewrite import rewrite_node_endpoints
from bus.gateway.session import Session
from bus.gateway.stamping import Decided, Refusal, decide_partition

Refused = list[tuple[str, int, Refusal]]  # (topic, partition, why)
ENDPOINTS_SINCE = 10  # Produce responses carry node endpoints from v10


Accepted = list[tuple[str, Message, str, Decided | None]]  # (topic, partition, recipient, records)


async def plan_produce(session: Session, body: bytes, version: int, correlation_id: int) -> Plan:
    header, request = decode_request(api.PRODUCE, version, body)
    expects = request.acks != 0
    state = session.state
    if state.holder is None:
        return Plan(
            forward=framed(body),
            expects_response=expects,
            transform=_transform(session, version, correlation_id, [], 0),
        )
    policy = state.holder.current
    agent = session.agent or ""
    accepted, refused = _decide(session, request)
    damping = None
    to_damp = [(target, d) for _, _, target, d in accepted if d is not None]
    if state.damper is not None and to_damp:
        damping = await state.damper.damp(policy, agent, to_damp)
    kept: dict[str, list[Message]] = {}
    position = 0
    for name, partition, target, decided in accepted:
        if decided is not None:
            diverted = damping.refused.get(position) if damping is not None else None
            position += 1
            if diverted is not None:
                refused.append((name, int(partition.index), diverted))
                continue
            partition = dataclasses.replace(partition, records=decided.encode(policy.version))
            _observe(session, decided.envelopes, target)
        kept.setdefault(name, []).append(partition)
    _count_refusals(session, refused)
    throttle_ms = damping.throttle_ms if damping is not None else 0
    held = damping.held if damping is not None else 0.0
    state.metrics.gateway_throttle_seconds.inc(held)
    if not kept:
        if not expects:
            return Plan(expects_response=False, hold_seconds=held)
        local = _merge(_empty_response(version), refused, throttle_ms)
        return Plan(local=encode_response(correlation_id, local), hold_seconds=held)
    topics = tuple(
        dataclasses.replace(t, partition_data=tuple(kept[t.name]))
        for t in request.topic_data
        if t.name in kept
    )
    forward = encode_request(header, dataclasses.replace(request, topic_data=topics))
    transform = _transform(session, version, correlation_id, refused, throttle_ms)
    return Plan(forward=forward, transform=transform, expects_response=expects, hold_seconds=held)


def _decide(session: Session, request: Message) -> tuple[Accepted, Refused]:
    """Authorise each topic and decide each partition batch of a produce request."""
    assert session.state.holder is not None
    policy = session.state.holder.current
    access = session.access()
    agent = session.agent or ""
    accepted: Accepted = []
    refused: Refused = []
    for topic in request.topic_data:
        target = access.produce_target(topic.name) if access is not None else None
        if target is None:
            why = Refusal(
                ErrorCode.topic_authorization_failed,
                "topic-authorization",
                f"agent {agent or '(unidentified)'} may not produce to {topic.name}",
            )
            refused.extend((topic.name, int(p.index), why) for p in topic.partition_data)
            continue
        for partition in topic.partition_data:
            if target == agent or partition.records is None:
                accepted.append((topic.name, partition, target, None))
                continue
            decided = decide_partition(policy, agent, target, partition.records)
            if isinstance(decided, Refusal):
                refused.append((topic.name, int(partition.index), decided))
            else:
                accepted.append((topic.name, partition, target, decided))
    return accepted, refused


def _observe(session: Session, envelopes: list[Envelope], recipient: str) -> None:
    state = session.state
    state.metrics.gateway_records.labels(outcome="produced").inc(len(envelopes))
    if state.sensors is None or state.holder is None:
        return
    policy = state.holder.current
    now = state.clock.now()
    for env in envelopes:
        group = policy.group_of(env.sender)
        state.sensors.observe_sent(env, group, now)
        state.sensors.observe_delivered(env, recipient, group, now)


def _count_refusals(session: Session, refused: Refused) -> None:
    metrics = session.state.metrics
    for _, _, why in refused:
        metrics.gateway_denied.labels(api="produce", reason=why.reason).inc()


def _transform(
    session: Session, version: int, correlation_id: int, refused: Refused, throttle_ms: int
) -> ResponseTransform | None:
    """Merge refusals and throttle time, rewrite node endpoints; None when there is
    nothing to change (no refusal, no throttle, a version without endpoints)."""
    if not refused and throttle_ms == 0 and version < ENDPOINTS_SINCE:
        return None

    def transform(body: bytes) -> bytes:
        response = decode_response(api.PRODUCE, version, body)
        response = rewrite_node_endpoints(response, session.state.brokers)
        return encode_response(correlation_id, _merge(response, refused, throttle_ms))

    return transform


def _empty_response(version: int) -> Message:
    kind = response_type(api.PRODUCE, version)
    assert kind is not None, "plan_request checked the version"
    return build(kind, responses=(), throttle_time=datetime.timedelta(0), node_endpoints=())


def _merge(response: Message, refused: Refused, throttle_ms: int) -> Message:
    """``response`` with the refused partitions added and the throttle time set."""
    if refused:
        topic_kind = nested(type(response), "TopicProduceResponse")
        partition_kind = nested(type(response), "PartitionProduceResponse")
        by_topic: dict[str, list[Any]] = {}
        for name, index, why in refused:
            by_topic.setdefault(name, []).append(_partition_error(partition_kind, index, why))
        topics = []
        for topic in response.responses:
            extra = by_topic.pop(topic.name, [])
            if extra:
                topic = dataclasses.replace(
                    topic, partition_responses=(*topic.partition_responses, *extra)
                )
            topics.append(topic)
        topics.extend(topic_kind(name=n, partition_responses=tuple(p)) for n, p in by_topic.items())
        response = dataclasses.replace(response, responses=tuple(topics))
    current = int(response.throttle_time.total_seconds() * 1000)
    if throttle_ms > current:
        response = dataclasses.replace(
            response, throttle_time=datetime.timedelta(milliseconds=throttle_ms)
        )
    return response


def _partition_error(kind: type[Message], index: int, why: Refusal) -> Message:
    record_errors: tuple[Message, ...] = ()
    if why.record_errors and has_field(kind, "record_errors"):
        record_kind = nested(kind, "BatchIndexAndErrorMessage")
        record_errors = tuple(
            record_kind(batch_index=i, batch_index_error_message=text)
            for i, text in why.record_errors
        )
    return build(
        kind,
        index=index,
        error_code=why.error,
        base_offset=-1,
        log_append_time=None,
        log_start_offset=-1,
        record_errors=record_errors,
        error_message=why.message,
    )
