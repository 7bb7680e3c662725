"""The ledger names every message that was lost, duplicated or never sent."""

from __future__ import annotations

import pytest

from bus.sim.ledger import Ledger
from bus.sim.wire import Quarantined


def _copy(msg_id: str, recipient: str | None, reason: str = "denied") -> Quarantined:
    return Quarantined(msg_id=msg_id, sender="a", recipient=recipient, kind="k",
                       verdict="deny", reason=reason, rule=None, filter=None)


def test_balanced_books_have_no_problems() -> None:
    ledger = Ledger()
    ledger.record_sent("m1", "chat", ("b", "c"))
    ledger.record_sent("m2", "chat", None)
    ledger.record_delivered("m1", "b", "chat", tokens=5)
    ledger.record_quarantined(_copy("m1", "c"))
    ledger.record_delivered("m2", "b", "chat", tokens=7)
    assert ledger.check() == []
    assert (ledger.sent, ledger.delivered, ledger.quarantined) == (2, 2, 1)
    assert ledger.tokens_delivered == 12
    assert ledger.quarantined_by_reason == {"denied": 1}
    assert ledger.outcomes_of("m1") == {"b": 1, "c": 1}


def test_a_message_never_seen_again_is_reported() -> None:
    ledger = Ledger()
    ledger.record_sent("m1", "chat", None)
    assert ledger.check() == ["m1 was sent but neither delivered nor quarantined"]


def test_a_named_recipient_without_an_outcome_is_reported() -> None:
    ledger = Ledger()
    ledger.record_sent("m1", "chat", ("b", "c"))
    ledger.record_delivered("m1", "b", "chat")
    assert ledger.check() == ["m1 has no outcome for c"]


def test_a_whole_message_quarantine_covers_every_recipient() -> None:
    ledger = Ledger()
    ledger.record_sent("m1", "chat", ("b", "c"))
    ledger.record_quarantined(_copy("m1", None, reason="no-recipient"))
    assert ledger.check() == []


def test_duplicates_and_strangers_are_reported() -> None:
    ledger = Ledger()
    ledger.record_sent("m1", "chat", ("b",))
    ledger.record_delivered("m1", "b", "chat")
    ledger.record_delivered("m1", "b", "chat")
    ledger.record_delivered("zz", "b", "chat")
    problems = ledger.check()
    assert "m1 reached b 2 times" in problems
    assert "zz was read back but never sent" in problems


def test_sending_one_id_twice_is_an_error() -> None:
    ledger = Ledger()
    ledger.record_sent("m1", "chat", None)
    with pytest.raises(ValueError, match="sent twice"):
        ledger.record_sent("m1", "chat", None)
