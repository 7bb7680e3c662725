"""Reading an agent's stance off a message.

A stance is what the agent currently holds: a categorical label (``"A"``,
``"approve"``) or a number on a bounded scale (a 1-7 Likert answer). It is
taken from the stance header when present, else from a JSON pointer
(RFC 6901) into the payload when one is configured. Numbers are snapped to
the configured grid and turned into a canonical label (``"3"``, ``"3.5"``),
so categorical and numeric stances are both counted by label; numeric ones
also keep their value for polarisation and drift.

A stance that cannot be used is not an error of the message (it is still
forwarded); the reader returns a rejection slug that is counted per group.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from bus import headers as h
from bus.envelope import Envelope
from bus.sensors.config import MAX_LABEL_LENGTH, SensorsConfig

# Rejection slugs: a bounded set, used as the ``reason`` label.
NOT_A_NUMBER: Final = "not-a-number"
OUT_OF_RANGE: Final = "out-of-range"
UNKNOWN_LABEL: Final = "unknown-label"
BAD_LABEL: Final = "bad-label"
BAD_PAYLOAD: Final = "bad-payload"
TOO_MANY_LABELS: Final = "too-many-labels"
REJECTIONS: Final = (
    NOT_A_NUMBER, OUT_OF_RANGE, UNKNOWN_LABEL, BAD_LABEL, BAD_PAYLOAD, TOO_MANY_LABELS,
)


class Stance:
    """A usable stance: ``label`` for counting, ``value`` on numeric scales."""

    __slots__ = ("label", "value")

    def __init__(self, label: str, value: float = math.nan) -> None:
        self.label = label
        self.value = value

    def __repr__(self) -> str:
        return f"Stance({self.label!r}, {self.value!r})"


class Rejected:
    """A stance was present but could not be used; ``reason`` is a slug."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """Split an RFC 6901 JSON pointer into unescaped reference tokens."""
    if pointer == "":
        return ()
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def _resolve(document: object, tokens: tuple[str, ...]) -> object:
    node = document
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                return None
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


class StanceReader:
    """Extracts and normalises stances according to a ``SensorsConfig``.

    Cost: O(1) from the header; O(payload size) when the JSON pointer is used,
    because the payload has to be decoded.
    """

    __slots__ = ("_header", "_high", "_labels", "_low", "_numeric", "_pointer", "_step", "_top")

    def __init__(self, config: SensorsConfig) -> None:
        self._header = config.stance_header.lower()
        self._pointer = None if config.stance_pointer is None else parse_pointer(
            config.stance_pointer
        )
        self._numeric = config.stance_type == "numeric"
        self._labels = frozenset(config.stance_labels)
        self._low = config.stance_min if config.stance_min is not None else 0.0
        self._high = config.stance_max if config.stance_max is not None else 0.0
        self._step = config.stance_resolution
        self._top = config.stance_levels - 1

    def read(self, env: Envelope) -> Stance | Rejected | None:
        """The sender's stance, a rejection, or None when the message carries none."""
        raw = self._raw(env)
        if raw is None:
            return None
        if isinstance(raw, Rejected):
            return raw
        return self._numeric_stance(raw) if self._numeric else self._label_stance(raw)

    def _raw(self, env: Envelope) -> str | float | Rejected | None:
        if self._header == h.STANCE:
            if env.stance is not None:
                return env.stance
        else:
            for name, value in env.extra_headers:
                if name.lower() == self._header:
                    try:
                        return value.decode("utf-8")
                    except UnicodeDecodeError:
                        return Rejected(BAD_LABEL)
        if self._pointer is None or not env.payload:
            return None
        try:
            document = msgspec.json.decode(env.payload)
        except msgspec.DecodeError:
            return Rejected(BAD_PAYLOAD)
        found = _resolve(document, self._pointer)
        if found is None:
            return None
        if isinstance(found, bool):
            return "true" if found else "false"
        if isinstance(found, int | float):
            return float(found)
        if isinstance(found, str):
            return found
        return Rejected(BAD_PAYLOAD)

    def _label_stance(self, raw: str | float) -> Stance | Rejected:
        label = number_label(raw) if isinstance(raw, float) else raw.strip()
        if not label or len(label) > MAX_LABEL_LENGTH:
            return Rejected(BAD_LABEL)
        if self._labels and label not in self._labels:
            return Rejected(UNKNOWN_LABEL)
        return Stance(label)

    def _numeric_stance(self, raw: str | float) -> Stance | Rejected:
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                return Rejected(NOT_A_NUMBER)
        if not math.isfinite(raw):
            return Rejected(NOT_A_NUMBER)
        if not self._low <= raw <= self._high:
            return Rejected(OUT_OF_RANGE)
        level = min(round((raw - self._low) / self._step), self._top)
        value = round(self._low + level * self._step, 9)
        return Stance(number_label(value), value)


def number_label(value: float) -> str:
    """Canonical text of a number: ``3`` for 3.0, ``3.5`` for 3.5."""
    return str(int(value)) if value.is_integer() else repr(value)
