"""The rules file: schema, loading (YAML or TOML) and validation."""

from bus.rules.loader import Loaded, load_checked, load_rules
from bus.rules.presets import AnyPreset
from bus.rules.schema import (
    AgentSpec,
    ChannelSpec,
    ConstitutionRule,
    EdgeRule,
    GroupSpec,
    RulesFile,
    TopicsSpec,
)
from bus.rules.transports import KafkaSettings, MqttSettings

__all__ = [
    "AgentSpec",
    "AnyPreset",
    "ChannelSpec",
    "ConstitutionRule",
    "EdgeRule",
    "GroupSpec",
    "KafkaSettings",
    "Loaded",
    "MqttSettings",
    "RulesFile",
    "TopicsSpec",
    "load_checked",
    "load_rules",
]
