"""The compiled policy: rules files turned into O(1) per-message decisions."""

from bus.policy.compile import compile_policy, load_policy, rules_version
from bus.policy.holder import PolicyHolder, ReloadResult
from bus.policy.policy import Policy

__all__ = [
    "Policy",
    "PolicyHolder",
    "ReloadResult",
    "compile_policy",
    "load_policy",
    "rules_version",
]
