"""Names and selectors: how a rules file refers to agents, groups and channels.

A selector is one string in an edge's ``from``/``to`` list:

- ``*`` — every agent (not channels);
- ``#name`` — the shared channel ``name``;
- a glob with ``*``, ``?`` or ``[...]`` — every agent whose id matches it;
- otherwise a name — the agent with that id, or every member of the group
  with that name (agent ids and group names share one namespace).

Identifiers are limited to characters that are valid in both Kafka and MQTT
topic names, so an agent id can be substituted into any topic template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Final, Generic, Literal, TypeVar

V = TypeVar("V")

IDENTIFIER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PATTERN: Final = re.compile(r"[A-Za-z0-9._*?\[\]!-]{1,128}")
GLOB_CHARS: Final = frozenset("*?[")
ANY: Final = "*"
CHANNEL_PREFIX: Final = "#"
MAX_KIND_LENGTH: Final = 128

SelectorKind = Literal["any", "channel", "pattern", "name"]


def is_identifier(text: str) -> bool:
    return IDENTIFIER.fullmatch(text) is not None


def check_identifier(text: str, what: str) -> None:
    """Raise ValueError when ``text`` cannot be an agent, group, channel or rule name."""
    if not is_identifier(text):
        raise ValueError(
            f"{what} {text!r} must start with a letter or digit and contain only "
            "letters, digits, '.', '_' and '-' (at most 128 characters)"
        )


def is_pattern(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def check_pattern(text: str) -> None:
    if not PATTERN.fullmatch(text) or not is_pattern(text):
        raise ValueError(f"pattern {text!r} must be a glob over agent-id characters")


def kind_of(selector: str) -> SelectorKind:
    if selector == ANY:
        return "any"
    if selector.startswith(CHANNEL_PREFIX):
        return "channel"
    if is_pattern(selector):
        return "pattern"
    return "name"


def check_selector(selector: str) -> None:
    """Raise ValueError when ``selector`` is not well formed (existence is checked later)."""
    kind = kind_of(selector)
    if kind == "channel":
        check_identifier(selector[1:], "channel")
    elif kind == "pattern":
        check_pattern(selector)
    elif kind == "name":
        check_identifier(selector, "agent or group")


def matches(pattern: str, agent: str) -> bool:
    """Case-sensitive glob match (agent ids are case-sensitive topic parts)."""
    return fnmatchcase(agent, pattern)


def sample_of(pattern: str) -> str:
    """An id the pattern matches, used to test whether one pattern can overlap another."""

    def one_of(match: re.Match[str]) -> str:
        negated, chars = match.group(1), match.group(2)
        if negated:
            return next((c for c in "x0_-.Z9" if c not in chars), "x")
        return chars[0] if chars else "x"

    return re.sub(r"\[(!?)([^\]]*)\]", one_of, pattern).replace("*", "x").replace("?", "x")


def check_kinds(kinds: tuple[str, ...]) -> None:
    for kind in kinds:
        if not kind or len(kind) > MAX_KIND_LENGTH:
            raise ValueError(f"kind {kind!r} must be 1 to {MAX_KIND_LENGTH} characters")
    if len(set(kinds)) != len(kinds):
        raise ValueError("kinds lists a kind twice")


class PatternIndex(Generic[V]):
    """Globs indexed by their literal prefix, each carrying a value.

    ``matching(agent)`` tests only the globs whose literal prefix (the text
    before the first wildcard) starts the id: O(length of the id) lookups
    plus one match per candidate, instead of one match per glob.
    """

    __slots__ = ("_by_prefix", "_lengths")

    def __init__(self, entries: Iterable[tuple[str, V]]) -> None:
        self._by_prefix: dict[str, list[tuple[str, V]]] = {}
        for pattern, value in entries:
            prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
            self._by_prefix.setdefault(prefix, []).append((pattern, value))
        self._lengths = sorted({len(prefix) for prefix in self._by_prefix})

    def __bool__(self) -> bool:
        return bool(self._by_prefix)

    def matching(self, agent: str) -> list[V]:
        """Values of the globs that match ``agent``, in insertion order per prefix."""
        found: list[V] = []
        for length in self._lengths:
            if length > len(agent):
                break
            for pattern, value in self._by_prefix.get(agent[:length], ()):
                if fnmatchcase(agent, pattern):
                    found.append(value)
        return found
