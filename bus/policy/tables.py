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


class _Side:
    """For one side (senders or recipients): which rules and filter places a
    class can match, as a frozenset per class, computed once per class."""

    def __init__(self, sets: Sequence[frozenset[int] | None], signatures: list[frozenset[int]]):
        self._signatures = signatures
        self._always = frozenset(i for i, ids in enumerate(sets) if ids is None)
        self._by_selector: dict[int, list[int]] = {}
        for i, ids in enumerate(sets):
            for selector in ids or ():
                self._by_selector.setdefault(selector, []).append(i)
        self._per_class: dict[int, frozenset[int]] = {}

    def of(self, cls: int) -> frozenset[int]:
        found = self._per_class.get(cls)
        if found is None:
            by_selector = self._by_selector
            found = self._always.union(*(by_selector.get(s, ()) for s in self._signatures[cls]))
            self._per_class[cls] = found
        return found


class ClassTable:
    """Rules and filters per (sender class, recipient class), computed lazily.

    A class pair's rules are the intersection of the rules its sender class
    can match on the ``from`` side and those its recipient class can match on
    the ``to`` side (likewise for filter places); both sets are cached per
    class, and identical results share one ``PairRules``. The per-pair cache
    is a bounded LRU; the per-class sets are bounded by the number of classes.
    """

    def __init__(
        self,
        signatures: list[frozenset[int]],
        rules: Sequence[tuple[Selected, CompiledRule]],
        filters: Sequence[tuple[tuple[Selected, ...], FilterConfig]],
        capacity: int = CLASS_CACHE_CAPACITY,
    ) -> None:
        self._rules = [rule for _, rule in rules]
        self._rules_from = _Side([selected.senders for selected, _ in rules], signatures)
        self._rules_to = _Side([selected.recipients for selected, _ in rules], signatures)
        places = [(place, index) for index, (where, _) in enumerate(filters) for place in where]
        self._place_filter = [index for _, index in places]
        self._places_from = _Side([place.senders for place, _ in places], signatures)
        self._places_to = _Side([place.recipients for place, _ in places], signatures)
        self._configs = [config for _, config in filters]
        self._global = frozenset(i for i, (where, _) in enumerate(filters) if not where)
        self._cache: OrderedDict[int, PairRules] = OrderedDict()
        self._shared: dict[tuple[frozenset[int], frozenset[int]], PairRules] = {}
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
        rules = self._rules_from.of(sender_cls) & self._rules_to.of(recipient_cls)
        places = self._places_from.of(sender_cls) & self._places_to.of(recipient_cls)
        filters = self._global.union(self._place_filter[p] for p in places)
        if not rules and not filters:
            return EMPTY
        shared = self._shared.get((rules, filters))
        if shared is None:
            if len(self._shared) >= self._capacity:
                self._shared.clear()
            shared = PairRules.of(
                [self._rules[i] for i in rules], tuple(self._configs[i] for i in sorted(filters))
            )
            self._shared[(rules, filters)] = shared
        return shared
