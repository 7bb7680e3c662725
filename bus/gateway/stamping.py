"""Produce-side record policy: decide every record of a partition, stamp the survivors.

Each record is read as an ``Envelope`` whose sender is the connection's agent
(client-set ``membrane-*`` headers are never trusted; ``membrane-to``,
``-kind`` and the like are validated as on the relay), decided for the
topic's recipient, and given membrane's egress headers (``membrane-from``,
``-id``, ``-hops``, ``-path``, ``-policy`` ...). The batch is then re-encoded
with the same record count and producer sequence (``batches``).

A partition batch is accepted whole or refused whole: when one record is
denied the broker never sees the batch, and the client gets the record's
index and the rule in ``record_errors``. Dropping single records would break
the sequence numbers of idempotent producers.
"""

from __future__ import annotations

from typing import Final

from kio.schema.errors import ErrorCode

from bus.envelope import Envelope, decode_envelope
from bus.errors import ProtocolError
from bus.gateway.batches import Batch, Record, split_batches
from bus.policy import Policy

MAX_RECORD_ERRORS: Final = 32  # bounded answer size; the message names the first


class Refusal:
    """Why a partition batch was not forwarded, in Kafka's terms."""

    __slots__ = ("error", "message", "reason", "record_errors")

    def __init__(
        self,
        error: ErrorCode,
        reason: str,
        message: str,
        record_errors: tuple[tuple[int, str], ...] = (),
    ) -> None:
        self.error = error
        self.reason = reason  # bounded slug for metrics
        self.message = message
        self.record_errors = record_errors

    def __repr__(self) -> str:
        return f"Refusal({self.error.name}, {self.reason!r}, {self.message!r})"


class Decided:
    """An accepted partition: its batches, and one envelope per record in order.

    Damping filters may replace an envelope with a rewritten copy before
    ``encode`` stamps the records from the envelopes.
    """

    __slots__ = ("batches", "envelopes")

    def __init__(
        self, batches: list[tuple[Batch, list[Record]]], envelopes: list[Envelope]
    ) -> None:
        self.batches = batches
        self.envelopes = envelopes

    def encode(self, policy_version: str) -> bytes:
        out: list[bytes] = []
        envelopes = iter(self.envelopes)
        for batch, records in self.batches:
            for record, env in zip(records, envelopes, strict=False):
                record.headers = list(env.egress_headers(policy_version))
                record.key = env.key
                record.value = env.payload
            out.append(batch.rebuild(records))
        return b"".join(out)


def decide_partition(policy: Policy, sender: str, recipient: str, data: bytes) -> Decided | Refusal:
    """Decide every record of one partition on its way to ``recipient``."""
    batches, tail = split_batches(data)
    if tail:
        return Refusal(ErrorCode.invalid_record, "truncated-batch", "partial record batch")
    read: list[tuple[Batch, list[Record]]] = []
    envelopes: list[Envelope] = []
    denied: list[tuple[int, str]] = []
    try:
        for raw in batches:
            batch = Batch(raw)
            records = list(batch.records())
            read.append((batch, records))
            for record in records:
                env = decode_envelope(
                    sender=sender,
                    headers=record.headers,
                    key=record.key,
                    payload=record.value,
                    timestamp=record.timestamp / 1000,
                )
                decision = policy.decide(env, recipient)
                if not decision.allowed and len(denied) < MAX_RECORD_ERRORS:
                    denied.append(
                        (
                            len(envelopes),
                            f"{sender} -> {recipient} denied by "
                            f"{decision.rule} ({decision.reason})",
                        )
                    )
                envelopes.append(env)
    except ProtocolError as exc:
        index = len(envelopes)
        return Refusal(
            ErrorCode.invalid_record, exc.reason, f"record {index}: {exc}", ((index, str(exc)),)
        )
    if denied:
        return Refusal(ErrorCode.policy_violation, "policy", denied[0][1], tuple(denied))
    return Decided(read, envelopes)
