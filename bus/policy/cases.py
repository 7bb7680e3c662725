"""Policy test cases: expected decisions for a rules file, checked by ``membrane test``.

A cases file (YAML or TOML) lists messages and what the policy must say::

    cases:
      - name: the planner hands out work
        from: planner
        to: worker-1
        kind: task
        expect: allow
        rule: planner-assigns

``size``, ``hops``, ``fields`` (a JSON payload with these top-level fields)
and ``content_type`` shape the message; ``rule``, ``reason`` and
``shadow_rule`` are checked when given (``shadow_rule: none`` expects no
shadow rule), as are ``topic`` and ``transport``, where the message for the
recipient is produced. A case without ``to`` checks the
fan-out instead: ``recipients`` lists exactly whom an unaddressed message
of that kind from the sender is delivered to (shadow-allowed ones included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from bus.envelope import Envelope
from bus.policy.policy import Policy
from bus.rules.loader import load_file
from bus.rules.sources import Positions


class Case(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    sender: str = msgspec.field(name="from")
    to: str | None = None
    name: str | None = None
    kind: str = ""
    size: int = 0
    hops: int = 0
    fields: tuple[str, ...] = ()
    content_type: str | None = None
    expect: Literal["allow", "deny"] | None = None
    rule: str | None = None
    reason: str | None = None
    shadow_rule: str | None = None
    recipients: tuple[str, ...] | None = None
    topic: str | None = None
    transport: Literal["kafka", "mqtt"] | None = None

    def __post_init__(self) -> None:
        if self.size < 0 or self.hops < 0:
            raise ValueError("size and hops must not be negative")
        if self.to is None and self.recipients is None:
            raise ValueError("a case needs 'to' and 'expect', or 'recipients' for a fan-out")
        if self.to is not None and self.expect is None:
            raise ValueError("a case with 'to' needs 'expect: allow' or 'expect: deny'")
        if self.to is None and (
            self.expect or self.rule or self.reason or self.shadow_rule or self.topic
        ):
            raise ValueError("expect, rule, reason, shadow_rule and topic need 'to'")

    @property
    def title(self) -> str:
        if self.name:
            return self.name
        target = self.to if self.to is not None else "(fan-out)"
        return f"{self.sender} -> {target}" + (f" kind={self.kind}" if self.kind else "")


class CasesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class Result:
    case: Case
    where: str
    differences: tuple[tuple[str, str, str], ...]  # (field, expected, got)

    @property
    def passed(self) -> bool:
        return not self.differences


def envelope_of(case: Case) -> Envelope:
    payload = b""
    if case.fields:
        payload = msgspec.json.encode(dict.fromkeys(case.fields, True))
    if case.size > len(payload):
        payload = payload + b" " * (case.size - len(payload))
    headers: tuple[tuple[str, bytes], ...] = ()
    if case.content_type is not None:
        headers = (("content-type", case.content_type.encode()),)
    return Envelope(
        sender=case.sender,
        payload=payload,
        recipients=(case.to,) if case.to is not None else None,
        kind=case.kind,
        hops=case.hops,
        path=(),
        extra_headers=headers,
    )


def reached(policy: Policy, env: Envelope) -> tuple[str, ...]:
    """Whom ``env`` is delivered to: its recipients that the policy allows."""
    return tuple(r for r in policy.recipients(env).resolved if policy.decide(env, r).allowed)


def run_case(policy: Policy, case: Case, where: str = "") -> Result:
    env = envelope_of(case)
    differences: list[tuple[str, str, str]] = []
    if case.to is None:
        got = reached(policy, env)
        expected = case.recipients or ()
        if sorted(got) != sorted(expected):
            differences.append(("recipients", ", ".join(sorted(expected)), ", ".join(sorted(got))))
        return Result(case, where, tuple(differences))
    decision = policy.decide(env, case.to)
    verdict = "allow" if decision.allowed else "deny"
    checks = [
        ("verdict", case.expect, verdict),
        ("rule", case.rule, decision.rule),
        ("reason", case.reason, decision.reason),
        ("shadow_rule", case.shadow_rule, decision.shadow_rule or "none"),
        ("transport", case.transport, policy.transport_of(case.to)),
    ]
    if case.topic is not None:
        known = decision.reason != "unknown-recipient"
        checks.append(("topic", case.topic, policy.inbox_topic(case.to) if known else "(none)"))
    for field_name, expected_value, got_value in checks:
        if expected_value is not None and expected_value != got_value:
            differences.append((field_name, expected_value, got_value))
    if case.recipients is not None:
        got = reached(policy, env)
        if sorted(got) != sorted(case.recipients):
            differences.append(
                ("recipients", ", ".join(sorted(case.recipients)), ", ".join(sorted(got)))
            )
    return Result(case, where, tuple(differences))


def load_cases(path: str | Path) -> tuple[CasesFile, Positions]:
    return load_file(path, CasesFile)


def run_cases(policy: Policy, path: str | Path) -> list[Result]:
    cases, positions = load_cases(path)
    results = []
    for i, case in enumerate(cases.cases):
        where = positions.locate(("cases", i))
        label = f"{where[0]}:{where[1]}" if where and where[1] else f"{path} case {i + 1}"
        results.append(run_case(policy, case, label))
    return results
