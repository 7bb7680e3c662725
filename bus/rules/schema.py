"""The rules file, as frozen msgspec Structs.

Structural checks (types, unknown fields, value ranges, well-formed names)
happen while decoding; cross-references between sections (does the group an
edge names exist?) are checked by ``bus.rules.validate``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from bus.gateway.settings import GatewaySettings
from bus.rules.presets import AnyPreset, Mode
from bus.rules.selectors import check_identifier, check_kinds, check_pattern, check_selector
from bus.rules.templates import check_template, check_topic
from bus.rules.transports import KafkaSettings, MqttSettings
from bus.sensors.config import SensorsConfig
from filters.registry import AnyFilterConfig

Transport = Literal["kafka", "mqtt"]
Selectors = str | tuple[str, ...]


def as_tuple(selectors: Selectors) -> tuple[str, ...]:
    return (selectors,) if isinstance(selectors, str) else selectors


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class AgentSpec(_Strict, frozen=True):
    groups: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    transport: Transport | None = None

    def __post_init__(self) -> None:
        for group in self.groups:
            check_identifier(group, "group")


class GroupSpec(_Strict, frozen=True):
    """A role or team. Members are listed, matched by ``patterns``, or both."""

    members: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    transport: Transport | None = None

    def __post_init__(self) -> None:
        for member in self.members:
            check_identifier(member, "agent")
        for pattern in self.patterns:
            check_pattern(pattern)
        if len(set(self.members)) != len(self.members):
            raise ValueError("members lists an agent twice")


class ChannelSpec(_Strict, frozen=True):
    """A shared topic addressed as ``#name``; ``transport`` defaults to where it has a topic."""

    topic: str | None = None
    mqtt_topic: str | None = None
    transport: Transport | None = None

    def __post_init__(self) -> None:
        if self.topic is None and self.mqtt_topic is None:
            raise ValueError("a channel needs topic (Kafka) or mqtt_topic")
        if self.topic is not None:
            check_topic(self.topic, "kafka")
        if self.mqtt_topic is not None:
            check_topic(self.mqtt_topic, "mqtt")
        if self.transport == "kafka" and self.topic is None:
            raise ValueError("transport is kafka but the channel has no topic")
        if self.transport == "mqtt" and self.mqtt_topic is None:
            raise ValueError("transport is mqtt but the channel has no mqtt_topic")

    @property
    def effective_transport(self) -> Transport:
        if self.transport is not None:
            return self.transport
        return "kafka" if self.topic is not None else "mqtt"


class TopicsSpec(_Strict, frozen=True):
    """Kafka topic templates; MQTT templates live in the ``mqtt:`` section."""

    outbox: str = "agents.{agent}.outbox"
    inbox: str = "agents.{agent}.inbox"
    quarantine: str = "membrane.quarantine"

    def __post_init__(self) -> None:
        check_template(self.outbox, "kafka")
        check_template(self.inbox, "kafka")
        check_topic(self.quarantine, "kafka")
        if self.outbox == self.inbox:
            raise ValueError("outbox and inbox templates must differ")


class _SelectorRule(_Strict, frozen=True):
    """What edge and constitution rules share: a name, and the senders
    (``from``) and recipients (``to``) they apply to, as selectors."""

    name: str
    from_: Selectors = msgspec.field(name="from")
    to: Selectors

    def __post_init__(self) -> None:
        check_identifier(self.name, "rule name")
        senders, recipients = self.senders, self.recipients
        if not senders or not recipients:
            raise ValueError("from and to must each name at least one agent, group or channel")
        for selector in (*senders, *recipients):
            check_selector(selector)
        if any(s.startswith("#") for s in senders):
            raise ValueError("a channel cannot send: use channels only in 'to'")

    @property
    def senders(self) -> tuple[str, ...]:
        return as_tuple(self.from_)

    @property
    def recipients(self) -> tuple[str, ...]:
        return as_tuple(self.to)


class EdgeRule(_SelectorRule, frozen=True):
    """A directed allow or deny rule from senders to recipients.

    Conditions (``kinds``, ``max_bytes``, ``require_fields``,
    ``content_type``) narrow an allow; a deny takes only ``kinds``.
    """

    action: Literal["allow", "deny"] = "allow"
    mode: Mode = "enforce"
    kinds: tuple[str, ...] = ()
    max_bytes: int | None = None
    require_fields: tuple[str, ...] = ()
    content_type: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_kinds(self.kinds)
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        conditioned = self.max_bytes or self.require_fields or self.content_type
        if self.action == "deny" and conditioned:
            raise ValueError("a deny rule takes only kinds as a condition")


class ConstitutionRule(_SelectorRule, frozen=True):
    """A hard limit evaluated before every edge; no allow overrides it.

    With ``max_hops`` or ``max_bytes`` it denies only messages over the
    limit; without either it denies every matching message. It applies to
    everyone unless ``from`` or ``to`` narrow it.
    """

    from_: Selectors = msgspec.field(name="from", default="*")
    to: Selectors = "*"
    kinds: tuple[str, ...] = ()
    max_hops: int | None = None
    max_bytes: int | None = None
    mode: Mode = "enforce"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_kinds(self.kinds)
        if self.max_hops is not None and self.max_hops < 1:
            raise ValueError("max_hops must be at least 1")
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")

    @property
    def unconditional(self) -> bool:
        return self.max_hops is None and self.max_bytes is None


class RulesFile(_Strict, frozen=True):
    """The root of a rules file."""

    version: Literal[1]
    agents: dict[str, AgentSpec] = {}
    groups: dict[str, GroupSpec] = {}
    channels: dict[str, ChannelSpec] = {}
    topics: TopicsSpec = TopicsSpec()
    topology: tuple[AnyPreset, ...] = ()
    edges: tuple[EdgeRule, ...] = ()
    constitution: tuple[ConstitutionRule, ...] = ()
    filters: tuple[AnyFilterConfig, ...] = ()
    default: Literal["deny"] = "deny"
    default_mode: Mode = "enforce"
    kafka: KafkaSettings = KafkaSettings()
    mqtt: MqttSettings = MqttSettings()
    sensors: SensorsConfig = SensorsConfig()
    gateway: GatewaySettings = GatewaySettings()


DEFAULT_RULE = "default"
