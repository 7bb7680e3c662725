"""Reading a quarantined copy back: the envelope as it was before membrane stamped it.

A quarantined record carries the egress headers (``membrane-from``, ``-id``,
``-hops`` (+1), ``-path`` (+ sender), ``-to``, ``-kind``, ``-stance``) and the
reasons (``-verdict``, ``-reason``, ``-recipient`` ...). ``original_envelope``
undoes the stamping so a replay decides the message as it was first sent,
addressed to the one recipient it was refused for (or to its original
recipients when the whole message was quarantined).
"""

from __future__ import annotations

from collections.abc import Sequence

from bus import headers as h
from bus.envelope import Envelope
from bus.errors import ProtocolError


class QuarantinedRecord:
    """The membrane headers of one quarantined record, decoded once."""

    __slots__ = ("extra", "stamped")

    def __init__(self, headers: Sequence[tuple[str, bytes]]) -> None:
        self.stamped: dict[str, str] = {}
        self.extra: list[tuple[str, bytes]] = []
        for name, value in headers:
            if name.startswith(h.PREFIX):
                self.stamped[name] = value.decode("utf-8", "replace")
            else:
                self.extra.append((name, value))

    def get(self, name: str) -> str | None:
        return self.stamped.get(name)

    @property
    def verdict(self) -> str:
        return self.stamped.get(h.VERDICT, "")

    @property
    def reason(self) -> str:
        return self.stamped.get(h.REASON, "")

    @property
    def replays(self) -> int:
        text = self.stamped.get(h.REPLAYED, "0")
        return int(text) if text.isdigit() else 0

    def original_envelope(self, payload: bytes | None, key: bytes | None,
                          timestamp: float) -> Envelope:
        """The envelope to decide again; ``ProtocolError`` if the copy lacks its sender."""
        sender = self.stamped.get(h.FROM)
        if not sender:
            raise ProtocolError("not-replayable", "the quarantined copy names no sender")
        recipient = self.stamped.get(h.RECIPIENT)
        to = self.stamped.get(h.TO)
        recipients: tuple[str, ...] | None
        if recipient:
            recipients = (recipient,)
        elif to:
            recipients = tuple(to.split(h.RECIPIENT_SEPARATOR))
        else:
            recipients = None
        path = tuple(p for p in self.stamped.get(h.PATH, "").split(h.PATH_SEPARATOR) if p)
        if path and path[-1] == sender:
            path = path[:-1]  # membrane appended the sender on the way out
        hops_text = self.stamped.get(h.HOPS, "1")
        hops = max(0, int(hops_text) - 1) if hops_text.isdigit() else len(path)
        return Envelope(
            sender=sender, payload=payload, msg_id=self.stamped.get(h.ID),
            recipients=recipients, kind=self.stamped.get(h.KIND, ""),
            stance=self.stamped.get(h.STANCE), hops=hops, path=path, key=key,
            extra_headers=tuple(self.extra), timestamp=timestamp,
        )
