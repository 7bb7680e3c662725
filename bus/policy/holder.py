"""Hot reload: one atomic reference to the current policy.

Readers take ``holder.current`` once per message and use that policy for the
whole decision, so a reload between two lookups cannot mix two policies.
Assigning an attribute is atomic in CPython, and the compiled policy is
never mutated, so no lock is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bus.errors import ConfigError
from bus.policy.compile import load_policy
from bus.policy.policy import Policy


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str
    error: str | None = None


class PolicyHolder:
    __slots__ = ("current",)

    def __init__(self, policy: Policy) -> None:
        self.current = policy

    def reload(self, *paths: str | Path) -> ReloadResult:
        """Load, validate and compile ``paths``; swap only if all of that succeeds."""
        try:
            policy = load_policy(*paths)
        except ConfigError as exc:
            return ReloadResult(ok=False, version=self.current.version, error=str(exc))
        self.current = policy
        return ReloadResult(ok=True, version=policy.version)

    def replace(self, policy: Policy) -> None:
        self.current = policy
