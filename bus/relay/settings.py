"""Tuning of the relay: validated once, at construction."""

from __future__ import annotations

import msgspec


class RelaySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the relay reads, batches, commits and retries.

    ``max_in_flight`` bounds inputs read but not yet committed (the consumer
    pauses above it); ``fetch_max_records`` bounds one read; outputs are
    produced in batches of up to ``max_batch_bytes`` per partition.
    ``dedupe_window`` is how many recent output keys are remembered and
    ``dedupe_seed_depth`` how many records per output partition are read back
    to refill it after a (re)start or a rebalance (0 turns refilling off).
    ``session_timeout`` is the consumer group's: how long a silent replica
    keeps its partitions (brokers bound it, Kafka to at least 6 s by default).
    ``fetch_max_wait`` is how long the broker may hold a read open waiting for
    records; brokers that answer only when it expires (the embedded one) add
    up to that much latency per hop, so latency-bound callers lower it.
    """

    group_id: str = "membrane"
    client_id: str = "membrane"
    max_in_flight: int = 20_000
    fetch_max_records: int = 10_000
    max_batch_bytes: int = 512 * 1024
    commit_interval: float = 0.5
    dedupe_window: int = 200_000
    dedupe_seed_depth: int = 25_000
    seed_timeout: float = 15.0
    request_timeout: float = 30.0
    metadata_max_age: float = 5.0
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    revoke_timeout: float = 5.0
    session_timeout: float = 10.0
    heartbeat_interval: float = 3.0
    fetch_max_wait: float = 0.5

    def __post_init__(self) -> None:
        positive = {
            "max_in_flight": self.max_in_flight,
            "fetch_max_records": self.fetch_max_records,
            "max_batch_bytes": self.max_batch_bytes,
            "commit_interval": self.commit_interval,
            "dedupe_window": self.dedupe_window,
            "seed_timeout": self.seed_timeout,
            "request_timeout": self.request_timeout,
            "metadata_max_age": self.metadata_max_age,
            "backoff_initial": self.backoff_initial,
            "revoke_timeout": self.revoke_timeout,
            "fetch_max_wait": self.fetch_max_wait,
            "session_timeout": self.session_timeout,
            "heartbeat_interval": self.heartbeat_interval,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.dedupe_seed_depth < 0:
            raise ValueError("dedupe_seed_depth must not be negative")
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must be at least backoff_initial")
        if self.heartbeat_interval >= self.session_timeout:
            raise ValueError("heartbeat_interval must be shorter than session_timeout")
        if self.max_batch_bytes < 1024:
            raise ValueError("max_batch_bytes must be at least 1024")
        if not self.group_id:
            raise ValueError("group_id must not be empty")
