"""The simulation's books: every message sent, and what became of it.

Membrane promises that nothing is lost: each message sent is, for each
recipient, either delivered (a record on that recipient's inbox) or
quarantined (a record on the quarantine topic), or still held by a filter.
The ledger counts all three from what was actually read back from the
broker, and ``check`` names every message that broke the promise: sent but
never seen again, seen twice for one recipient, or seen without being sent.

Memory is bounded by the run: the ledger keeps one entry per message sent,
and a simulation run is finite by construction.
"""

from __future__ import annotations

from collections import Counter

from bus.sim.wire import Quarantined

WHOLE_MESSAGE = "*"  # stands for "every recipient" in a whole-message quarantine


class Ledger:
    """Counts of sent, delivered and quarantined messages, and per-message outcomes."""

    def __init__(self) -> None:
        self.sent = 0
        self.delivered = 0
        self.quarantined = 0
        self.sent_by_kind: Counter[str] = Counter()
        self.delivered_by_kind: Counter[str] = Counter()
        self.quarantined_by_reason: Counter[str] = Counter()
        self.tokens_delivered = 0
        self._addressed: dict[str, tuple[str, ...] | None] = {}
        self._outcomes: Counter[tuple[str, str]] = Counter()
        self._strangers: list[str] = []

    def record_sent(self, msg_id: str, kind: str, to: tuple[str, ...] | None) -> None:
        if msg_id in self._addressed:
            raise ValueError(f"message id {msg_id!r} was sent twice")
        self._addressed[msg_id] = to
        self.sent += 1
        self.sent_by_kind[kind] += 1

    def record_delivered(self, msg_id: str, recipient: str, kind: str, tokens: int = 0) -> None:
        self._note(msg_id, recipient)
        self.delivered += 1
        self.delivered_by_kind[kind] += 1
        self.tokens_delivered += tokens

    def record_quarantined(self, copy: Quarantined) -> None:
        self._note(copy.msg_id, copy.recipient if copy.recipient is not None else WHOLE_MESSAGE)
        self.quarantined += 1
        self.quarantined_by_reason[copy.reason] += 1

    def _note(self, msg_id: str, recipient: str) -> None:
        if msg_id not in self._addressed:
            self._strangers.append(msg_id)
        self._outcomes[(msg_id, recipient)] += 1

    def check(self) -> list[str]:
        """Every broken promise, as one sentence each; empty when the books balance."""
        problems: list[str] = []
        seen: set[str] = set()
        for (msg_id, recipient), count in self._outcomes.items():
            seen.add(msg_id)
            if count > 1:
                problems.append(f"{msg_id} reached {recipient} {count} times")
        for msg_id, to in self._addressed.items():
            if msg_id not in seen:
                problems.append(f"{msg_id} was sent but neither delivered nor quarantined")
            elif to is not None:
                whole = (msg_id, WHOLE_MESSAGE) in self._outcomes
                missing = [r for r in to if not whole and (msg_id, r) not in self._outcomes]
                if missing:
                    problems.append(f"{msg_id} has no outcome for {', '.join(missing)}")
        problems.extend(f"{msg_id} was read back but never sent" for msg_id in self._strangers)
        return problems

    def outcomes_of(self, msg_id: str) -> dict[str, int]:
        """Recipient → number of outcomes seen for one message (for tests and reports)."""
        return {r: n for (m, r), n in self._outcomes.items() if m == msg_id}
