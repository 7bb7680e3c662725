"""Aggregating runs into tables and CSV files."""

from __future__ import annotations

import csv
from pathlib import Path

from bus.sim.ledger import Ledger
from bus.sim.play import RunRecord
from bus.sim.report import aggregate, markdown_table, write_runs_csv, write_series_csv
from bus.sim.runner import Condition, RunResult


def _result(labels: dict[str, str], seed: int, summary: dict[str, float],
            series: list[float]) -> RunResult:
    record = RunRecord([{"round": float(i), "error": v} for i, v in enumerate(series)],
                       summary, Ledger(), wall_seconds=1.5)
    return RunResult(Condition(labels, lambda seed: None), seed, record)  # type: ignore[arg-type,return-value]


def _results() -> list[RunResult]:
    return [
        _result({"topology": "full"}, 1, {"error": 0.2, "delivered": 1200.0}, [0.5, 0.3]),
        _result({"topology": "ring"}, 1, {"error": 0.1}, [0.5, 0.2]),
        _result({"topology": "full"}, 2, {"error": 0.4, "delivered": 1400.0}, [0.5, 0.1]),
        _result({"topology": "ring"}, 2, {"error": 0.1}, [0.5, 0.4]),
    ]


def test_runs_are_grouped_by_condition_in_first_seen_order() -> None:
    groups = aggregate(_results())
    assert [g.condition.labels["topology"] for g in groups] == ["full", "ring"]
    full = groups[0]
    assert len(full.runs) == 2
    assert abs(full.mean("error") - 0.3) < 1e-12
    assert abs(full.sd("error") - 0.1414213562) < 1e-9
    assert full.series("error") == [(0.0, 0.5), (1.0, 0.2)]


def test_the_table_shows_mean_and_spread_and_marks_what_was_not_measured() -> None:
    table = markdown_table(aggregate(_results()), ["error", "delivered"])
    lines = table.splitlines()
    assert lines[0] == "| topology | error | delivered | runs |"
    assert lines[2] == "| full | 0.300 ± 0.141 | 1,300 ± 141 | 2 |"
    assert lines[3] == "| ring | 0.100 ± 0 | - | 2 |"


def test_the_runs_csv_has_one_row_per_run(tmp_path: Path) -> None:
    path = write_runs_csv(_results(), tmp_path / "runs.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 4
    assert rows[0]["topology"] == "full" and rows[0]["seed"] == "1"
    assert rows[1]["delivered"] == ""  # not measured for that run
    assert rows[2]["error"] == "0.4" and rows[2]["wall_seconds"] == "1.500"


def test_the_series_csv_averages_over_repeats(tmp_path: Path) -> None:
    path = write_series_csv(aggregate(_results()), "error", tmp_path / "series.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["topology", "round", "error"]
    assert rows[1:] == [["full", "0", "0.5"], ["full", "1", "0.2"],
                        ["ring", "0", "0.5"], ["ring", "1", "0.3"]]
