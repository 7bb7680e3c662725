"""The policy's answer for one (message, recipient), and the interface every
transport uses to ask for it. ``bus.policy`` implements ``PolicyView``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from bus.envelope import Envelope

if TYPE_CHECKING:
    from filters.base import FilterConfig


class Decision:
    """Whether a message may go to one recipient, and which rule said so.

    ``allowed`` is the outcome to act on. A shadow rule that would have denied
    leaves ``allowed`` true and names itself in ``shadow_rule``. ``reason`` is
    a slug from a bounded set (``allowed``, ``default-deny``, ``denied``,
    ``constitution``, ``kind``, ``too-large``, ``missing-field``,
    ``content-type``, ``hop-limit``, ``unknown-recipient``).
    """

    __slots__ = ("allowed", "reason", "rule", "shadow_rule")

    def __init__(
        self, allowed: bool, rule: str, reason: str, shadow_rule: str | None = None
    ) -> None:
        self.allowed = allowed
        self.rule = rule
        self.reason = reason
        self.shadow_rule = shadow_rule

    def __repr__(self) -> str:
        return (
            f"Decision(allowed={self.allowed}, rule={self.rule!r}, reason={self.reason!r}, "
            f"shadow_rule={self.shadow_rule!r})"
        )


class Recipients:
    """Who a message goes to: resolved agent ids / channel names, and names
    that matched nothing (these are quarantined as ``unknown-recipient``)."""

    __slots__ = ("resolved", "unknown")

    def __init__(self, resolved: tuple[str, ...], unknown: tuple[str, ...] = ()) -> None:
        self.resolved = resolved
        self.unknown = unknown


Transport = Literal["kafka", "mqtt"]


class PolicyView(Protocol):
    """A compiled, immutable policy. Every method is O(1) amortised."""

    @property
    def version(self) -> str:
        """Short content hash of the rules this policy was compiled from."""
        ...

    def recipients(self, env: Envelope) -> Recipients:
        """Expand ``membrane-to`` (agent ids, group names, ``#channel``), or,
        when absent, every agent or channel the sender may reach."""
        ...

    def decide(self, env: Envelope, recipient: str) -> Decision:
        """Constitution first, then edges, then the default (deny)."""
        ...

    def group_of(self, agent: str) -> str:
        """The interaction group used by sensors and filters for this agent."""
        ...

    def group_size(self, group: str) -> int: ...

    def filters_for(self, sender: str, recipient: str) -> Sequence[FilterConfig]:
        """Filter configs that apply to this pair, in chain order."""
        ...

    def transport_of(self, agent: str) -> Transport:
        """Which bus an agent (or channel) lives on."""
        ...

    def inbox_topic(self, recipient: str) -> str:
        """Where a message for this agent or channel is produced."""
        ...

    def outbox_topic(self, agent: str) -> str: ...

    def agent_of_outbox(self, topic: str) -> str | None:
        """The agent whose outbox this topic is, or None."""
        ...

    @property
    def outbox_pattern(self) -> str:
        """A regular expression matching every Kafka outbox topic."""
        ...

    @property
    def quarantine_topic(self) -> str: ...
