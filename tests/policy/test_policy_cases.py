"""Policy test cases: what they check, how mismatches are reported, and bad case files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bus.bench_policy import measure
from bus.errors import ConfigError
from bus.policy import Policy, load_policy
from bus.policy.cases import Case, envelope_of, run_case, run_cases

RULES = """
version: 1
agents: {a: {}, b: {}, c: {transport: mqtt}}
edges:
  - {name: a-to-b, from: a, to: b, kinds: [task], require_fields: [id]}
  - {name: a-to-c, from: a, to: c, mode: shadow, kinds: [ping]}
"""


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return load_policy(path)


def case(**fields: object) -> Case:
    import msgspec

    return msgspec.convert(fields, Case)


def test_a_matching_case_passes(policy: Policy) -> None:
    result = run_case(
        policy,
        case(**{"from": "a", "to": "b", "kind": "task", "fields": ["id"], "expect": "allow"}),
    )
    assert result.passed and result.differences == ()


def test_every_mismatching_field_is_reported(policy: Policy) -> None:
    result = run_case(
        policy,
        case(
            **{
                "from": "a",
                "to": "b",
                "kind": "task",
                "expect": "allow",
                "rule": "other",
                "reason": "allowed",
            }
        ),
    )
    assert result.differences == (
        ("verdict", "allow", "deny"),
        ("rule", "other", "a-to-b"),
        ("reason", "allowed", "missing-field"),
    )


def test_shadow_rule_none_expects_no_shadow(policy: Policy) -> None:
    shadowed = case(
        **{"from": "a", "to": "c", "kind": "x", "expect": "allow", "shadow_rule": "none"}
    )
    assert run_case(policy, shadowed).differences == (("shadow_rule", "none", "a-to-c"),)


def test_topic_and_transport_are_checked(policy: Policy) -> None:
    result = run_case(
        policy,
        case(
            **{
                "from": "a",
                "to": "c",
                "kind": "ping",
                "expect": "allow",
                "transport": "kafka",
                "topic": "agents/c/in",
            }
        ),
    )
    assert result.differences == (("transport", "kafka", "mqtt"),)


def test_fan_out_cases_list_whom_a_message_reaches(policy: Policy) -> None:
    # c is reached too: its edge is in shadow mode, so the wrong kind is only counted.
    reach = case(**{"from": "a", "kind": "task", "fields": ["id"], "recipients": ["c", "b"]})
    assert run_case(policy, reach).passed
    wrong = case(**{"from": "a", "kind": "ping", "recipients": ["b"]})
    assert run_case(policy, wrong).differences == (("recipients", "b", "c"),)


def test_envelope_of_a_case_has_the_requested_shape() -> None:
    env = envelope_of(
        case(
            **{
                "from": "a",
                "to": "b",
                "expect": "deny",
                "size": 50,
                "hops": 2,
                "fields": ["id"],
                "content_type": "application/json",
            }
        )
    )
    assert env.size == 50 and env.hops == 2 and env.payload is not None
    assert env.payload.startswith(b'{"id":true}')
    assert env.extra_headers == (("content-type", b"application/json"),)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from": "a"}, "a case needs 'to' and 'expect', or 'recipients'"),
        ({"from": "a", "to": "b"}, "a case with 'to' needs 'expect: allow' or 'expect: deny'"),
        ({"from": "a", "recipients": [], "rule": "x"}, "need 'to'"),
        ({"from": "a", "to": "b", "expect": "maybe"}, "Invalid enum value 'maybe'"),
        ({"from": "a", "to": "b", "expect": "deny", "size": -1}, "must not be negative"),
    ],
)
def test_bad_cases_are_refused(fields: dict[str, object], message: str) -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(fields, Case)


def test_a_bad_case_file_names_the_case_and_line(policy: Policy, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        textwrap.dedent(
            """
            cases:
              - {from: a, to: b, expect: deny}
              - {from: a, to: b, expect: deny, colour: red}
            """
        ).lstrip()
    )
    with pytest.raises(ConfigError) as caught:
        run_cases(policy, cases)
    assert caught.value.path == "$.cases[1]"
    assert caught.value.line == 3
    assert "unknown field `colour`" in caught.value.message


def test_results_carry_the_line_of_each_case(policy: Policy, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - {from: a, to: b, expect: deny}\n\n  - {from: b, to: a, expect: allow}\n"
    )
    results = run_cases(policy, cases)
    assert [r.passed for r in results] == [True, False]
    assert results[1].where == f"{cases}:4"


def test_the_benchmark_reports_consistent_figures() -> None:
    result = measure(agents=200, edges=2_000, decisions=2_000)
    assert result.agents == 200
    assert result.edges == 2_000  # 200 agents * k=10 distinct out-edges each
    assert result.decisions == 2_000
    assert 0.0 <= result.allowed_share <= 1.0
    assert result.compile_seconds >= 0 and result.decisions_per_second > 0
