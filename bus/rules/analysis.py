"""Topology analysis."""

from __future__ import annotations

from bus.rules.membership import Membership
from bus.rules.schema import RulesFile
from bus.rules.validate import Problem


def topology_warnings(rules: RulesFile, membership: Membership) -> list[Problem]:
    return []
