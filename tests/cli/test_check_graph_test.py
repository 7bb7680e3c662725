"""`membrane check`, `graph` and `test`: exit codes, output, and every shipped example."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bus.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
RULES_FILES = sorted(
    p for p in [*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.toml")] if ".cases." not in p.name
)
# The examples the rules area ships; each must come with its policy test cases.
SHIPPED = (
    "team.yaml",
    "team.toml",
    "presets.yaml",
    "constitution.yaml",
    "shadow.yaml",
    "mixed.yaml",
)


def cases_of(rules: Path) -> Path:
    return rules.with_name(f"{rules.stem}.cases{rules.suffix}")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_example_has_cases(name: str) -> None:
    assert (EXAMPLES / name).is_file()
    assert cases_of(EXAMPLES / name).is_file()


@pytest.mark.parametrize("rules", RULES_FILES, ids=lambda p: p.name)
def test_every_example_checks_clean_and_passes_its_cases(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["check", str(rules)], capsys)
    assert code == 0, err
    assert f"{rules}: valid (policy " in out
    assert err == ""
    if cases_of(rules).is_file():
        code, out, _ = run(["test", str(rules), str(cases_of(rules))], capsys)
        assert code == 0, out
        assert ", 0 failed" in out


def test_check_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(EXAMPLES / "presets.yaml")], capsys)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "41 listed" in lines["agents"]
    assert "full-team 4, ring-team 6" in lines["groups"]
    assert "6 preset(s), 2 edge rule(s)" in lines["rules"]
    assert "188 between agents" in lines["edges"] and "density 0.1146" in lines["edges"]
    assert "max 40" in lines["out-degree"]
    assert "1 weakly connected (largest 41)" in lines["components"]


def test_check_json_and_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "--json", str(EXAMPLES / "constitution.yaml")], capsys)
    assert code == 0
    document = json.loads(out)
    assert document["agents"] == 6 and document["edges"] == 28
    assert document["out_degree"] == {"min": 4, "mean": 4.667, "max": 5}
    assert len(document["warnings"]) == 2
    assert (
        "'deploys-need-review' denies what allow rule 'core-hands-to-ops'"
        in (document["warnings"][0])
    )


def test_check_strict_fails_on_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "--strict", str(EXAMPLES / "constitution.yaml")], capsys)
    assert code == 1
    assert "warning: " in out
    assert run(["check", "--strict", str(EXAMPLES / "team.yaml")], capsys)[0] == 0


def test_check_reports_every_error_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nagents: {a: {}}\nedges:\n"
        "  - {name: e1, from: a, to: ghost}\n"
        "  - {name: e2, from: spectre, to: a}\n"
    )
    code, out, err = run(["check", str(bad)], capsys)
    assert code == 1
    assert out == ""
    assert (
        f"error: {bad}, line 4, column 29, at $.edges[0].to: unknown agent or group 'ghost'" in err
    )
    assert f"error: {bad}, line 5, column 22, at $.edges[1].from: unknown agent or group" in err
    assert f"{bad}: invalid (2 errors)" in err


@pytest.mark.parametrize(
    ("command", "text", "start"),
    [
        ("check", "version: 1\nagents: {a: [}\n", ", line 2"),
        ("check", None, ": cannot read"),
        ("graph", "version: 3\n", ", line 1, column 10, at $.version"),
    ],
    ids=["syntax-error", "missing-file", "invalid-value"],
)
def test_a_bad_rules_file_is_one_error_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, text: str | None,
    start: str,
) -> None:
    bad = tmp_path / "bad.yaml"
    if text is not None:
        bad.write_text(text)
    code, _, err = run([command, str(bad)], capsys)
    assert code == 1
    assert err.startswith(f"error: {bad}{start}")
    assert "Traceback" not in err


def test_usage_errors_exit_2() -> None:
    for args in (
        ["check"],
        ["graph"],
        ["test", "only-one.yaml"],
        ["graph", "x.yaml", "--format", "svg"],
    ):
        with pytest.raises(SystemExit) as caught:
            main(args)
        assert caught.value.code == 2


def test_the_installed_command_exits_2_on_usage_errors() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bus.cli.main", "check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "the following arguments are required: RULES" in result.stderr


def test_graph_dot(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["graph", str(EXAMPLES / "team.yaml")], capsys)
    assert code == 0
    assert out.startswith("digraph membrane {")
    assert '"planner" -> "worker-1" [tooltip="planner-assigns", label="task"];' in out
    assert (
        '"worker-1" -> "worker-2" [tooltip="worker-chatter", label="coordination", style=dashed];'
        in out
    )
    assert 'label="workers";' in out
    assert '"#audit-log" [shape=box];' in out


def test_graph_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "graph.json"
    code, out, _ = run(
        ["graph", str(EXAMPLES / "mixed.yaml"), "--format", "json", "-o", str(target)], capsys
    )
    assert code == 0 and out == ""
    document = json.loads(target.read_text())
    nodes = {n["id"]: n for n in document["nodes"]}
    assert nodes["base-north"]["transport"] == "mqtt"
    assert nodes["analyst"]["transport"] == "kafka"
    assert nodes["#emergency"] == {
        "id": "#emergency",
        "type": "channel",
        "groups": [],
        "transport": "mqtt",
    }
    assert {
        "from": "analyst",
        "to": "dispatcher",
        "rule": "analyst-advises",
        "mode": "enforce",
        "kinds": ["advice"],
    } in document["edges"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "team.png"
    code, _, _ = run(["graph", str(EXAMPLES / "team.yaml"), "--png", str(png)], capsys)
    assert code == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_graph_png_without_graphviz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = run(
        ["graph", str(EXAMPLES / "team.yaml"), "--png", str(tmp_path / "x.png")], capsys
    )
    assert code == 1
    assert "Graphviz 'dot' is not installed" in err


def test_policy_test_shows_a_readable_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - {name: fine, from: planner, to: worker-1, kind: task, expect: allow}\n"
        "  - {name: wrong, from: planner, to: worker-1, kind: chat, expect: allow,"
        " rule: planner-assigns}\n"
    )
    code, out, _ = run(["test", str(EXAMPLES / "team.yaml"), str(cases)], capsys)
    assert code == 1
    assert "ok    fine" in out
    assert f"FAIL  wrong  ({cases}:3)" in out
    assert "verdict  - expected: allow" in out
    assert "+ got:      deny" in out
    failure = out.split("FAIL")[1].splitlines()
    assert not any(line.strip().startswith("rule") for line in failure)  # the rule matched
    assert "1 passed, 1 failed" in out


def test_policy_test_quiet_prints_only_failures(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["test", "-q", str(EXAMPLES / "team.yaml"), str(EXAMPLES / "team.cases.yaml")], capsys
    )
    assert code == 0
    assert out.splitlines()[0].startswith("14 passed, 0 failed")


def test_policy_test_with_a_broken_cases_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - {from: planner, to: worker-1}\n")
    code, out, err = run(["test", str(EXAMPLES / "team.yaml"), str(cases)], capsys)
    assert code == 1 and out == ""
    assert "line 2" in err and "needs 'expect: allow' or 'expect: deny'" in err


def test_policy_test_with_no_cases_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases: []\n")
    code, out, _ = run(["test", str(EXAMPLES / "team.yaml"), str(cases)], capsys)
    assert code == 1 and "0 passed, 0 failed" in out


def test_huge_topologies_skip_the_figures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bus.policy import graph

    monkeypatch.setattr(graph, "MAX_EDGES", 3)
    code, out, _ = run(["check", str(EXAMPLES / "team.yaml")], capsys)
    assert code == 0
    assert "valid (policy " in out
    assert (
        "warning: the effective topology has more than 3 edges; graph figures are not computed"
        in out
    )
    code, _, err = run(["graph", str(EXAMPLES / "team.yaml")], capsys)
    assert code == 1 and "more than 3 edges" in err
