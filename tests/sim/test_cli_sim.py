"""``membrane sim``: the command line, its files, its exit codes, its reproducibility."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bus.cli.main import main


def _rows(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "wall_seconds"}
            for row in csv.DictReader(path.open())]


def test_a_local_loops_run_prints_the_table_and_writes_its_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sim", "loops", "--backend", "local", "--pattern", "polite,cycle",
            "--damping", "none,hops", "--rounds", "30", "--repeats", "2", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "| pattern | damping | delivered |" in out
    assert "| polite | none | 30 ± 0 |" in out
    assert "| cycle | hops | 2 ± 0 |" in out
    files = {p.name for p in (tmp_path / "a").iterdir()}
    assert {"loops.md", "loops.csv", "loops.png", "rules"} <= files
    assert (tmp_path / "a" / "loops.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "membrane sim loops --pattern polite,cycle --damping none,hops" in (
        tmp_path / "a" / "loops.md").read_text()
    rules = (tmp_path / "a" / "rules" / "cycle-hops.yaml").read_text()
    assert "filter: hops" in rules
    assert len(_rows(tmp_path / "a" / "loops.csv")) == 8
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert _rows(tmp_path / "a" / "loops.csv") == _rows(tmp_path / "b" / "loops.csv")


def test_an_unknown_topology_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code = main(["sim", "collective", "--topology", "moebius", "--out", str(tmp_path)])
    assert code == 2
    assert "unknown topology 'moebius'" in capsys.readouterr().err


def test_an_invalid_parameter_names_the_field(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    code = main(["sim", "pressure", "--backend", "local", "--p-correct", "1.5",
                 "--out", str(tmp_path)])
    assert code == 1
    assert "p_correct" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_pressure_run_through_an_embedded_broker_and_relay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "pressure", "--agents", "6", "--confederates", "1", "--topology",
                 "full", "--damper", "none,blind", "--repeats", "1", "--quiet",
                 "--out", str(tmp_path)])
    assert code == 0
    rows = _rows(tmp_path / "pressure.csv")
    assert [r["damper"] for r in rows] == ["none", "blind"]
    assert all(r["delivered"] == str(2 * 6 * 5) for r in rows)
    assert rows[1]["conformity_rate"] == "0"
