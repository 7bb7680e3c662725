"""``membrane demo`` end to end: two relays on an embedded broker, a figure at the end."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bus.cli.main import main

pytestmark = pytest.mark.e2e


def test_the_demo_damps_the_herd_and_the_loops_and_says_where_the_figures_are(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seconds", "0", "--out", str(tmp_path)]) == 0
    out = "".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert f"Figureswrittento{tmp_path / 'demo.png'}" in out
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((tmp_path / "demo.csv").open()))
    last = {r["run"]: r for r in rows}
    free, damped = last["without damping"], last["with membrane damping"]
    assert float(damped["loop_messages"]) < float(free["loop_messages"]) / 10
    assert float(damped["quarantined"]) > 0 and float(free["quarantined"]) == 0
    assert float(damped["accuracy"]) > float(free["accuracy"])
