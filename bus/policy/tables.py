"""Decision tables: which rules can apply to a pair, found without scanning rules.

Two tables feed each decision:

- the *class table*: for a (sender class, recipient class) pair, the group-
  level rules whose ``from`` and ``to`` selectors both intersect the classes'
  signatures, split into constitution / deny / allow lists in file order,
  plus the filter configs attached there. Entries are computed on first use
  from per-selector indexes and kept in a bounded LRU.
- the *pair table*: for rules between explicit agents only (topology presets
  and agent-to-agent edges), a dict from ``sender_index * stride +
  recipient_index`` to the rules of that pair. Identical rule lists are
  shared, so a preset of a million edges stores one list and a million keys.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from bus.policy.rule import CompiledRule
from filters.base import FilterConfig

CLASS_CACHE_CAPACITY: Final = 65_536


class PairRules:
    """The rules that can decide one pair, by layer, each list in file order."""

    __slots__ = ("allows", "constitution", "denies", "filters")

    def __init__(
        self,
        constitution: tuple[CompiledRule, ...] = (),
        denies: tuple[CompiledRule, ...] = (),
        allows: tuple[CompiledRule, ...] = (),
        filters: tuple[FilterConfig, ...] = (),
    ) -> None:
        self.constitution = constitution
        self.denies = denies
        self.allows = allows
        self.filters = filters

    @staticmethod
    def of(rules: Sequence[CompiledRule], filters: tuple[FilterConfig, ...] = ()) -> PairRules:
        ordered = sorted(rules, key=lambda r: r.order)
        return PairRules(
            tuple(r for r in ordered if r.layer == "constitution"),
            tuple(r for r in ordered if r.layer == "deny"),
            tuple(r for r in ordered if r.layer == "allow"),
            filters,
        )


EMPTY: Final = PairRules()


class Selected:
    """Sender and recipient selector ids something applies between; None is anyone."""

    __slots__ = ("recipients", "senders")

    def __init__(self, senders: frozenset[int] | None, recipients: frozenset[int] | None) -> None:
        self.senders = senders
        self.recipients = recipients

    def covers(self, sender: frozenset[int], recipient: frozenset[int]) -> bool:
        return (self.senders is None or not self.senders.isdisjoint(sender)) and (
            self.recipients is None or not self.recipients.isdisjoint(recipient)
        )


class ClassTable:
    """Rules and filters per (sender class, recipient class), computed lazily."""

    def __init__(
        self,
        signatures: list[frozenset[int]],
        rules: Sequence[tuple[Selected, CompiledRule]],
        filters: Sequence[tuple[tuple[Selected, ...], FilterConfig]],
        capacity: int = CLASS_CACHE_CAPACITY,
    ) -> None:
        self._signatures = signatures
        self._rules = rules
        self._filters = filters
        self._by_sender: dict[int, list[int]] = {}
        for position, (selected, _) in enumerate(rules):
            assert selected.senders is not None, "rules always name their senders"
            for selector in selected.senders:
                self._by_sender.setdefault(selector, []).append(position)
        self._cache: OrderedDict[int, PairRules] = OrderedDict()
        self._capacity = capacity

    def get(self, sender_cls: int, recipient_cls: int) -> PairRules:
        key = (sender_cls << 32) | recipient_cls
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            return entry
        entry = self._compute(sender_cls, recipient_cls)
        self._cache[key] = entry
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return entry

    def _compute(self, sender_cls: int, recipient_cls: int) -> PairRules:
        sender = self._signatures[sender_cls]
        recipient = self._signatures[recipient_cls]
        positions = sorted({p for s in sender for p in self._by_sender.get(s, ())})
        chosen = [
            rule
            for position in positions
            for selected, rule in (self._rules[position],)
            if selected.covers(sender, recipient)
        ]
        filters = tuple(
            config
            for places, config in self._filters
            if not places or any(place.covers(sender, recipient) for place in places)
        )
        if not chosen and not filters:
            return EMPTY
        return PairRules.of(chosen, filters)
