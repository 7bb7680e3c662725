"""Sorting what membrane wrote into the agents' inboxes, and keeping the books.

Both transports (Kafka and in-memory) hand every record membrane produced to
a ``Mailroom``: deliveries go to the recipient's inbox for its next step and
into the ledger, quarantined copies only into the ledger. Agents read their
inbox sorted by ``Incoming.order``, never in arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable

from bus.sim.ledger import Ledger
from bus.sim.messages import Incoming, Outgoing
from bus.sim.wire import Record, read_delivery, read_quarantine

RawHeaders = Iterable[tuple[str, bytes | None]]


class Mailroom:
    def __init__(self) -> None:
        self.ledger = Ledger()
        self._inboxes: dict[str, list[Incoming]] = {}

    def posted(self, record: Record, message: Outgoing) -> None:
        self.ledger.record_sent(record.msg_id, message.kind, message.to)

    def delivered(self, recipient: str, headers: RawHeaders, value: bytes | None) -> None:
        message = read_delivery(headers, value)
        tokens = message.body.get("tokens", 0)
        self.ledger.record_delivered(message.msg_id, recipient, message.kind,
                                     tokens if isinstance(tokens, int) else 0)
        self._inboxes.setdefault(recipient, []).append(message)

    def quarantined(self, headers: RawHeaders) -> None:
        self.ledger.record_quarantined(read_quarantine(headers))

    def collect(self) -> dict[str, list[Incoming]]:
        """Every agent's inbox since the last call, in reading order."""
        inboxes, self._inboxes = self._inboxes, {}
        for inbox in inboxes.values():
            inbox.sort(key=lambda m: m.order)
        return inboxes
