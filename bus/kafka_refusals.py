"""Which Kafka produce failures trying again cannot mend.

A record larger than the broker (or the producer) accepts, a topic name the
broker rejects, a write the broker's ACL or topic policy forbids: each fails
the same way however often it is retried, so a writer that retries it holds
the input, and then every input behind it, for good. Everything else (no
leader, timeouts, a lost connection) passes with time and is retried.
aiokafka's own ``retriable`` flag is not used for this: it marks a timeout
waiting for the broker as not retriable, and that one does pass.
"""

from __future__ import annotations

from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)

from bus.errors import UpstreamError

FINAL_PRODUCE_ERRORS: tuple[type[KafkaError], ...] = (
    InvalidTopicError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)


def produce_failure(topic: str, error: KafkaError) -> UpstreamError:
    """The ``UpstreamError`` for a failed write to ``topic``, retriable unless final."""
    return UpstreamError(f"producing to {topic} failed: {error!r}",
                         retriable=not isinstance(error, FINAL_PRODUCE_ERRORS))
