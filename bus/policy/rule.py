"""A rule compiled for evaluation: its conditions as sets and numbers.

``CompiledRule.failure`` answers, in O(1) for kinds/size/hops and O(payload)
only when ``require_fields`` asks for a look inside, which condition a
message breaks. Constitution, deny and allow rules share the type; the
``layer`` says which list a rule sits in.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from bus.envelope import Envelope

Layer = Literal["constitution", "deny", "allow"]

_json_object = msgspec.json.Decoder(dict[str, msgspec.Raw])


class CompiledRule:
    __slots__ = (
        "content_type",
        "kinds",
        "layer",
        "max_bytes",
        "max_hops",
        "name",
        "order",
        "require_fields",
        "shadow",
    )

    def __init__(
        self,
        *,
        name: str,
        layer: Layer,
        order: int,
        shadow: bool,
        kinds: tuple[str, ...] = (),
        max_bytes: int | None = None,
        max_hops: int | None = None,
        require_fields: tuple[str, ...] = (),
        content_type: str | None = None,
    ) -> None:
        self.name = name
        self.layer = layer
        self.order = order
        self.shadow = shadow
        self.kinds: frozenset[str] | None = frozenset(kinds) if kinds else None
        self.max_bytes = max_bytes
        self.max_hops = max_hops
        self.require_fields = require_fields
        self.content_type = content_type.lower() if content_type else None

    def applies_to_kind(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def violation(self, env: Envelope) -> str | None:
        """For a constitution rule: the reason it denies ``env``, or None."""
        if not self.applies_to_kind(env.kind):
            return None
        if self.max_hops is None and self.max_bytes is None:
            return "constitution"
        if self.max_hops is not None and env.hops + 1 > self.max_hops:
            return "hop-limit"
        if self.max_bytes is not None and env.size > self.max_bytes:
            return "too-large"
        return None

    def failure(self, env: Envelope) -> str | None:
        """For an allow rule: the first condition ``env`` breaks, or None."""
        if not self.applies_to_kind(env.kind):
            return "kind"
        if self.max_bytes is not None and env.size > self.max_bytes:
            return "too-large"
        if self.content_type is not None and _content_type(env) != self.content_type:
            return "content-type"
        if self.require_fields and not _has_fields(env.payload, self.require_fields):
            return "missing-field"
        return None

    def __repr__(self) -> str:
        return f"CompiledRule({self.name!r}, {self.layer}{', shadow' if self.shadow else ''})"


def _content_type(env: Envelope) -> str | None:
    for name, value in env.extra_headers:
        if name.lower() == "content-type":
            return value.decode("utf-8", "replace").split(";", 1)[0].strip().lower()
    return None


def _has_fields(payload: bytes | None, fields: tuple[str, ...]) -> bool:
    if not payload:
        return False
    try:
        document = _json_object.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    return all(name in document for name in fields)
