"""What a filter (or the policy) says about one message for one recipient.

Filters return verdicts; only the chain runner acts on them. A verdict is
immutable and cheap: ``FORWARD`` is a shared singleton.
"""

from __future__ import annotations

from typing import Final


class Forward:
    __slots__ = ()
    name: Final = "forward"

    def __repr__(self) -> str:
        return "FORWARD"


class Delay:
    """Hold the message for ``seconds`` before it continues down the chain."""

    __slots__ = ("reason", "seconds")
    name: Final = "delay"

    def __init__(self, seconds: float, reason: str = "") -> None:
        if seconds < 0:
            raise ValueError("a delay cannot be negative")
        self.seconds = seconds
        self.reason = reason

    def __repr__(self) -> str:
        return f"Delay({self.seconds!r}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Delay) and (self.seconds, self.reason) == (
            other.seconds,
            other.reason,
        )

    def __hash__(self) -> int:
        return hash((Delay, self.seconds, self.reason))


class Divert:
    """Send the message to quarantine. ``reason`` is a short slug from a bounded
    set (it becomes a metric label); ``detail`` is free text for people."""

    __slots__ = ("detail", "reason")
    name: Final = "divert"

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail

    def __repr__(self) -> str:
        return f"Divert({self.reason!r}, {self.detail!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Divert) and (self.reason, self.detail) == (
            other.reason,
            other.detail,
        )

    def __hash__(self) -> int:
        return hash((Divert, self.reason, self.detail))


class Rewrite:
    """Change what the recipient receives, then continue down the chain.

    ``set_headers`` are stamped (a ``None`` value removes the header);
    ``strip_fields`` are top-level JSON payload fields to remove.
    """

    __slots__ = ("set_headers", "strip_fields")
    name: Final = "rewrite"

    def __init__(
        self,
        set_headers: dict[str, str | None] | None = None,
        strip_fields: tuple[str, ...] = (),
    ) -> None:
        self.set_headers = set_headers or {}
        self.strip_fields = strip_fields

    def __repr__(self) -> str:
        return f"Rewrite({self.set_headers!r}, {self.strip_fields!r})"


FORWARD: Final = Forward()

Verdict = Forward | Delay | Divert | Rewrite
