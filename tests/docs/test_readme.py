"""The README's examples are the real thing: its rules file validates and its
commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bus.cli.main import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_worked_rules_example_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```yaml\n(version: 1\n.*?)```", README, flags=re.S)
    assert blocks, "the README has no worked rules example"
    for i, block in enumerate(blocks):
        path = tmp_path / f"example-{i}.yaml"
        path.write_text(block)
        assert main(["check", str(path)]) == 0, capsys.readouterr().err


def test_every_membrane_command_in_the_readme_exists() -> None:
    used = set(re.findall(r"(?:\$ |\.venv/bin/)membrane ([a-z]+)", README))
    used |= set(re.findall(r"^membrane ([a-z]+) --", README, flags=re.M))
    used |= set(re.findall(r"`membrane ([a-z]+)", README))
    assert used, "the README shows no membrane command"
    assert used <= set(COMMANDS), used - set(COMMANDS)


def test_every_linked_file_exists() -> None:
    links = re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", README)
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash tests/run" in README
    assert re.search(r"^exec bash tests/run\s*$", ci, flags=re.M)
