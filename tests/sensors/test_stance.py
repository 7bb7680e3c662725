"""Reading stances from headers and JSON payloads, categorical and numeric."""

from __future__ import annotations

import pytest

from bus.envelope import Envelope
from bus.sensors import SensorsConfig
from bus.sensors.stance import Rejected, Stance, StanceReader, parse_pointer

LIKERT = {"stance_type": "numeric", "stance_min": 1.0, "stance_max": 7.0}


def read(config: SensorsConfig, **env: object) -> Stance | Rejected | None:
    env.setdefault("payload", None)
    return StanceReader(config).read(Envelope(sender="a", **env))  # type: ignore[arg-type]


def test_the_stance_header_wins_over_the_payload() -> None:
    config = SensorsConfig(stance_pointer="/stance")
    found = read(config, payload=b'{"stance": "B"}', stance=" A ")
    assert isinstance(found, Stance) and found.label == "A"


def test_a_json_pointer_reads_nested_objects_arrays_and_escaped_keys() -> None:
    config = SensorsConfig(stance_pointer="/votes/1/a~1b")
    found = read(config, payload=b'{"votes": [{}, {"a/b": "yes"}]}')
    assert isinstance(found, Stance) and found.label == "yes"
    assert parse_pointer("/x~0y/~1") == ("x~y", "/")
    assert parse_pointer("") == ()


def test_a_missing_pointer_target_means_no_stance() -> None:
    assert read(SensorsConfig(stance_pointer="/stance"), payload=b'{"other": 1}') is None
    assert read(SensorsConfig(), payload=b'{"stance": "A"}') is None


def test_a_payload_that_is_not_json_is_rejected_not_raised() -> None:
    found = read(SensorsConfig(stance_pointer="/stance"), payload=b"\xff not json")
    assert isinstance(found, Rejected) and found.reason == "bad-payload"


def test_a_custom_header_is_read_from_the_extra_headers() -> None:
    config = SensorsConfig(stance_header="x-answer")
    found = read(config, extra_headers=(("X-Answer", b"C"),))
    assert isinstance(found, Stance) and found.label == "C"


@pytest.mark.parametrize(
    ("raw", "label", "value"),
    [("4", "4", 4.0), ("3.6", "4", 4.0), ("1", "1", 1.0), ("7.0", "7", 7.0)],
)
def test_numeric_stances_snap_to_the_grid(raw: str, label: str, value: float) -> None:
    found = read(SensorsConfig(**LIKERT), stance=raw)  # type: ignore[arg-type]
    assert isinstance(found, Stance)
    assert (found.label, found.value) == (label, value)


def test_a_half_step_grid_keeps_fractional_labels() -> None:
    config = SensorsConfig(stance_type="numeric", stance_min=0, stance_max=2,
                           stance_resolution=0.5)
    found = read(config, stance="1.4")
    assert isinstance(found, Stance) and (found.label, found.value) == ("1.5", 1.5)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("0.5", "out-of-range"), ("7.5", "out-of-range"), ("high", "not-a-number"),
     ("nan", "not-a-number")],
)
def test_unusable_numeric_stances_are_rejected(raw: str, reason: str) -> None:
    found = read(SensorsConfig(**LIKERT), stance=raw)  # type: ignore[arg-type]
    assert isinstance(found, Rejected) and found.reason == reason


def test_numbers_in_the_payload_are_numeric_stances() -> None:
    config = SensorsConfig(stance_pointer="/score", **LIKERT)  # type: ignore[arg-type]
    found = read(config, payload=b'{"score": 5}')
    assert isinstance(found, Stance) and found.value == 5.0


def test_categorical_labels_outside_a_fixed_set_or_too_long_are_rejected() -> None:
    fixed = SensorsConfig(stance_labels=("A", "B"))
    unknown = read(fixed, stance="C")
    assert isinstance(unknown, Rejected) and unknown.reason == "unknown-label"
    long = read(SensorsConfig(), stance="x" * 65)
    assert isinstance(long, Rejected) and long.reason == "bad-label"
    boolean = read(SensorsConfig(stance_pointer="/ok"), payload=b'{"ok": true}')
    assert isinstance(boolean, Stance) and boolean.label == "true"
