"""SensorsConfig: defaults, semantic checks, and error paths when decoded."""

from __future__ import annotations

import msgspec
import pytest

from bus.sensors import SensorsConfig
from bus.sensors.config import PerAgentMetrics


def decode(section: dict[str, object]) -> SensorsConfig:
    return msgspec.convert(section, SensorsConfig)


def test_defaults_are_categorical_header_stances_with_per_agent_series_off() -> None:
    config = SensorsConfig()
    assert config.stance_header == "membrane-stance"
    assert config.stance_type == "categorical"
    assert config.intervals == 60
    assert config.possible_stances is None
    assert config.per_agent == PerAgentMetrics(enabled=False, top=20)


def test_a_likert_scale_has_seven_possible_stances() -> None:
    config = decode({"stance_type": "numeric", "stance_min": 1, "stance_max": 7})
    assert config.stance_levels == 7
    assert config.possible_stances == 7


def test_a_fixed_label_set_fixes_k() -> None:
    assert decode({"stance_labels": ["A", "B", "C", "D"]}).possible_stances == 4


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"stance_type": "numeric"}, "numeric stances need stance_min and stance_max"),
        ({"stance_type": "numeric", "stance_min": 7, "stance_max": 1}, "stance_min must be below"),
        ({"stance_min": 1}, "apply to numeric stances only"),
        ({"stance_labels": ["A", "A"]}, "lists a label twice"),
        ({"stance_pointer": "answer"}, "JSON pointer"),
        ({"stance_pointer": "/a~2b"}, "JSON pointer"),
        ({"stance_labels": ["A", " "]}, "non-empty and at most 64"),
        ({"window_seconds": 2, "interval_seconds": 1}, "at least 3 intervals"),
        ({"window_seconds": 7200, "interval_seconds": 1}, "at most 3600"),
        ({"polarisation_alpha": 2.0}, "polarisation_alpha must be in [0, 1.6]"),
        ({"pingpong_min_run": 1}, "pingpong_min_run"),
        ({"max_agents_per_group": 0}, "max_agents_per_group must be at least 1"),
        (
            {"stance_type": "numeric", "stance_min": 0, "stance_max": 100,
             "stance_resolution": 0.1},
            "levels exceeds max_stances",
        ),
    ],
)
def test_invalid_settings_are_rejected_with_a_reason(
    section: dict[str, object], message: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=message.replace("[", r"\[")):
        decode(section)


def test_errors_in_the_nested_per_agent_section_carry_their_path() -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        decode({"per_agent": {"enabled": True, "top": 0}})
    assert "$.per_agent" in str(caught.value)


def test_escaped_pointers_are_accepted() -> None:
    assert decode({"stance_pointer": "/a~1b/~0/0"}).stance_pointer == "/a~1b/~0/0"
    assert decode({"stance_pointer": ""}).stance_pointer == ""


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `windows`"):
        decode({"windows": 3})
