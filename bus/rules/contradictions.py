"""Rules that contradict each other (filled in below)."""

from __future__ import annotations

from bus.rules.membership import Membership
from bus.rules.schema import RulesFile
from bus.rules.validate import Problem


def contradictions(rules: RulesFile, membership: Membership) -> tuple[list[Problem], list[Problem]]:
    return [], []
