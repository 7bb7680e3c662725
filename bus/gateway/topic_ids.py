"""Topic id → name, learned from the Metadata responses passing through.

Fetch v13+ names topics only by id. Clients learn ids from Metadata, which
always goes through the gateway first, so the gateway learns them at the same
moment (from the upstream answer, before any topic is hidden). An id the
gateway has not seen is answered with UNKNOWN_TOPIC_ID, which makes the client
refresh its metadata, and with it the gateway's map.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Final

CAPACITY: Final = 100_000


class TopicIds:
    __slots__ = ("_names", "capacity")

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._names: OrderedDict[uuid.UUID, str] = OrderedDict()

    def learn(self, topic_id: uuid.UUID | None, name: str | None) -> None:
        if topic_id is None or topic_id.int == 0 or not name:
            return
        self._names[topic_id] = name
        self._names.move_to_end(topic_id)
        if len(self._names) > self.capacity:
            self._names.popitem(last=False)

    def name_of(self, topic_id: uuid.UUID | None) -> str | None:
        if topic_id is None:
            return None
        return self._names.get(topic_id)

    def __len__(self) -> int:
        return len(self._names)
