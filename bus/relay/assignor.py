"""Consumer-group assignment that keeps each sender's outbox in one process.

Kafka's stock assignors spread the partitions of one topic over the group.
Membrane keeps state per sender, per (sender, recipient) pair and per
interaction group (filters, sensors), so it assigns *whole outbox topics*,
grouped by an affinity key: the sender's interaction group (``group``, the
default: one process sees the whole group, so group sensors and pair
filters inside the group are exact) or the sender itself (``agent``: spreads
a single large group, at the price of per-process group statistics).

Algorithm: collect the subscribed topics, bucket them by affinity key, then
hand buckets out largest first (by partition count) to the member with the
fewest partitions so far, ties broken by member id: a deterministic
longest-processing-time greedy that stays within one bucket of balanced.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

Affinity = Literal["group", "agent"]
KeyOfTopic = Callable[[str], str]


class AffinityAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Assigns outbox topics whole, bucketed by ``key_of_topic``."""

    name = "membrane-affinity"
    version = 0

    def __init__(self, key_of_topic: KeyOfTopic) -> None:
        self._key_of_topic = key_of_topic

    def assign(
        self,
        cluster: ClusterMetadata,
        members: Mapping[str, ConsumerProtocolMemberMetadata],
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        buckets: dict[str, list[tuple[str, list[int]]]] = collections.defaultdict(list)
        topics = sorted({t for meta in members.values() for t in meta.subscription})
        for topic in topics:
            partitions = cluster.partitions_for_topic(topic)
            if partitions:
                buckets[self._key_of_topic(topic)].append((topic, sorted(partitions)))
        load = {member: 0 for member in members}
        plan: dict[str, list[tuple[str, list[int]]]] = {member: [] for member in members}
        by_size = sorted(buckets.items(), key=lambda kv: (-sum(len(p) for _, p in kv[1]), kv[0]))
        for _, bucket in by_size:
            candidates = [m for m in members if _subscribes(members[m], bucket)] or list(members)
            member = min(candidates, key=lambda m: (load[m], m))
            plan[member].extend(bucket)
            load[member] += sum(len(p) for _, p in bucket)
        return {
            member: ConsumerProtocolMemberAssignment(self.version, sorted(plan[member]), b"")
            for member in members
        }

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(self.version, list(topics), b"")

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        pass


def _subscribes(meta: ConsumerProtocolMemberMetadata, bucket: list[tuple[str, list[int]]]) -> bool:
    return all(topic in meta.subscription for topic, _ in bucket)
