"""Loading rules files: every structural error names the file, line, column and $.path."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from bus.errors import ConfigError
from bus.rules import KafkaSettings, MqttSettings, RulesFile, load_checked, load_rules, sources
from bus.rules.presets import RingPreset
from filters.hops import HopsConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, name: str = "rules.yaml") -> ConfigError:
    path = write(tmp_path, text, name)
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    return caught.value


def test_the_team_example_decodes_into_structs() -> None:
    rules = load_rules(EXAMPLES / "team.yaml")
    assert isinstance(rules, RulesFile)
    assert rules.groups["workers"].members == ("worker-1", "worker-2", "worker-3")
    assert rules.groups["workers"].patterns == ("worker-*",)
    assert [e.name for e in rules.edges][:2] == ["planner-assigns", "workers-report"]
    assert rules.edges[0].senders == ("planner",) and rules.edges[0].recipients == ("workers",)
    assert rules.constitution[2].mode == "shadow"
    assert rules.filters == (HopsConfig(max_hops=4, attach=rules.filters[0].attach),)
    assert rules.filters[0].attach.groups == ("workers",)
    assert rules.channels["audit-log"].topic == "team.audit-log"
    assert isinstance(rules.kafka, KafkaSettings) and isinstance(rules.mqtt, MqttSettings)


def test_unknown_field_points_at_the_key(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 1
        agents:
          a: {}
          b: {groups: [], colour: red}
        """,
    )
    assert error.path == "$.agents.b"
    assert "unknown field `colour`" in error.message
    assert (error.line, error.column) == (4, 19)
    assert error.source is not None and error.source.endswith("rules.yaml")


def test_type_error_inside_a_named_entry_names_the_entry(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 1
        agents:
          a: {}
          b: {}
          c: {labels: {team: 7}}
          d: {}
        """,
    )
    assert error.path == "$.agents.c.labels.team"
    assert "Expected `str`, got `int`" in error.message
    assert error.line == 5


def test_bad_enum_value_names_the_list_index(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 1
        agents: {a: {}, b: {}}
        edges:
          - {name: one, from: a, to: b}
          - name: two
            from: a
            to: b
            action: allw
        """,
    )
    assert error.path == "$.edges[1].action"
    assert "Invalid enum value 'allw'" in error.message
    assert (error.line, error.column) == (8, 13)


def test_value_check_in_a_struct_reports_its_path(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 1
        groups:
          g: {members: [a, b, c]}
        topology:
          - {preset: small_world, group: g, k: 2, p: 1.5}
        """,
    )
    assert error.path == "$.topology[0]"
    assert "p must be between 0 and 1" in error.message
    assert error.line == 5


def test_unknown_preset_tag_is_reported(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 1
        groups: {g: {members: [a, b, c]}}
        topology:
          - {preset: hypercube, group: g}
        """,
    )
    assert error.path == "$.topology[0].preset"
    assert "hypercube" in error.message
    assert error.line == 4


def test_unknown_filter_is_reported(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 1
        filters:
          - {filter: hops, max_hops: 0}
        """,
    )
    assert error.path == "$.filters[0]"
    assert "max_hops must be at least 1" in error.message


def test_version_is_required(tmp_path: Path) -> None:
    error = load_error(tmp_path, "agents: {a: {}}\n")
    assert "missing required field `version`" in error.message


def test_wrong_version_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, "version: 2\n")
    assert error.path == "$.version"


def test_empty_file_is_missing_the_version(tmp_path: Path) -> None:
    error = load_error(tmp_path, "\n")
    assert "version" in error.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = load_error(tmp_path, "- 1\n- 2\n")
    assert "top level must be a mapping" in error.message


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    error = load_error(tmp_path, "version: 1\nagents: [\n")
    assert error.line == 3
    assert "did not find expected node content" in error.message


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 1
        agents:
          a: {}
          a: {groups: []}
        """,
    )
    assert "duplicate key 'a'" in error.message
    assert error.line == 4


def test_alias_bomb_is_rejected_quickly(tmp_path: Path) -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    started = time.monotonic()
    error = load_error(tmp_path, "\n".join(lines) + "\n")
    assert "expands to more than" in error.message
    # Generous bound: expanding the aliases would take minutes.
    assert time.monotonic() - started < 30


def test_aliases_within_limits_are_expanded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        agents:
          a: &member {groups: [g]}
          b: *member
        groups: {g: {}}
        """,
    )
    assert load_rules(path).agents["b"].groups == ("g",)


def test_deep_nesting_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, "version: 1\nx: " + "[" * 100 + "]" * 100 + "\n")
    assert "nested deeper than" in error.message or "nesting depth" in error.message


def test_oversized_file_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 64)
    error = load_error(tmp_path, "version: 1\n" + "# padding\n" * 20)
    assert "the limit is 64" in error.message


def test_non_utf8_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"version: 1\nagents: {\xff: {}}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_rules(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")


def test_unknown_extension_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "version = 1\n", "rules.ini")
    with pytest.raises(ConfigError, match=r"use \.yaml, \.yml or \.toml"):
        load_rules(path)


def test_no_file_at_all_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no rules file"):
        load_rules()


def test_toml_decodes_like_yaml(tmp_path: Path) -> None:
    yaml_path = write(
        tmp_path,
        """
        version: 1
        groups: {g: {members: [a, b, c]}}
        topology: [{preset: ring, group: g, k: 2}]
        """,
    )
    toml_path = write(
        tmp_path,
        """
        version = 1
        [groups.g]
        members = ["a", "b", "c"]
        [[topology]]
        preset = "ring"
        group = "g"
        k = 2
        """,
        "rules.toml",
    )
    assert load_rules(yaml_path) == load_rules(toml_path)
    assert load_rules(toml_path).topology == (RingPreset(group="g", k=2),)


def test_toml_syntax_error_has_a_position(tmp_path: Path) -> None:
    error = load_error(tmp_path, "version = 1\n[agents.a\n", "rules.toml")
    assert error.line == 2
    assert error.message.startswith("invalid TOML")


def test_toml_type_error_names_the_path_and_file(tmp_path: Path) -> None:
    error = load_error(tmp_path, "version = 1\n[agents.a]\ngroups = 3\n", "rules.toml")
    assert error.path == "$.agents.a.groups"
    assert error.source is not None and error.source.endswith("rules.toml")


def test_unquoted_mqtt_protocol_is_explained(tmp_path: Path) -> None:
    error = load_error(tmp_path, "version: 1\nmqtt: {protocol: 5}\n")
    assert error.path == "$.mqtt.protocol"


def test_several_files_merge(tmp_path: Path) -> None:
    base = write(
        tmp_path, "version: 1\nagents: {a: {}, b: {}}\nedges: [{name: e1, from: a, to: b}]\n"
    )
    more = write(
        tmp_path,
        "version: 1\nagents: {c: {}}\nedges: [{name: e2, from: c, to: a}]\n",
        "more.yaml",
    )
    rules = load_rules(base, more)
    assert list(rules.agents) == ["a", "b", "c"]
    assert [e.name for e in rules.edges] == ["e1", "e2"]


def test_an_error_in_the_second_file_points_into_it(tmp_path: Path) -> None:
    base = write(
        tmp_path, "version: 1\nagents: {a: {}, b: {}}\nedges: [{name: e1, from: a, to: b}]\n"
    )
    more = write(
        tmp_path,
        "edges:\n  - name: e2\n    from: a\n    to: nobody\n",
        "more.yaml",
    )
    with pytest.raises(ConfigError) as caught:
        load_rules(base, more)
    assert caught.value.path == "$.edges[1].to"
    assert caught.value.source == str(more)
    assert caught.value.line == 4


def test_an_agent_defined_in_two_files_is_an_error(tmp_path: Path) -> None:
    base = write(tmp_path, "version: 1\nagents: {a: {}}\n")
    more = write(tmp_path, "agents: {a: {groups: []}}\n", "more.yaml")
    with pytest.raises(ConfigError, match="agent 'a' is already defined in"):
        load_rules(base, more)


def test_a_section_set_differently_in_two_files_is_an_error(tmp_path: Path) -> None:
    base = write(tmp_path, "version: 1\nkafka: {group_id: one}\n")
    more = write(tmp_path, "kafka: {group_id: two}\n", "more.yaml")
    with pytest.raises(ConfigError, match="section 'kafka' is also set, differently"):
        load_rules(base, more)


def test_several_problems_are_counted(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 1
        agents: {a: {}}
        edges:
          - {name: e1, from: a, to: ghost}
          - {name: e2, from: spectre, to: a}
        """,
    )
    assert "(and 1 more problem)" in error.message
    path = write(tmp_path, "version: 1\n", "ok.yaml")
    assert load_checked(path).errors == ()
