"""``membrane acls``: each agent writes only its outbox and reads only its inbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus.cli.main import main

RULES = """\
version: 1
agents:
  alice: {transport: mqtt}
  bob: {transport: mqtt}
  carol: {transport: kafka}
  dave: {}
groups:
  robots: {members: [alice, bob], transport: mqtt}
  drones: {patterns: ["drone-*"], transport: mqtt}
channels:
  news: {mqtt_topic: fleet/news}
  board: {topic: fleet.board}
kafka:
  bootstrap: kafka-0:9092
  group_id: relay
mqtt:
  username: gatekeeper
edges:
  - {name: talk, from: robots, to: [robots, carol, "#news"]}
  - {name: back, from: carol, to: [robots, "#board"]}
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["acls", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _sections(text: str) -> dict[str, list[str]]:
    """Mosquitto ACL text → user name (or 'pattern') → its topic lines."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("user "):
            current = line.split()[1]
            sections[current] = []
        elif line.startswith("topic "):
            sections[current].append(line)
        elif line.startswith("pattern "):
            sections.setdefault("pattern", []).append(line)
    return sections


def test_mosquitto_acl_grants_own_outbox_and_inbox_only(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, str(rules), "--format", "mosquitto")
    assert code == 0
    sections = _sections(out)
    assert sections["alice"] == [
        "topic write agents/alice/out",
        "topic read agents/alice/in",
        "topic read fleet/news",
    ]
    assert sections["bob"][:2] == ["topic write agents/bob/out", "topic read agents/bob/in"]
    assert sections["gatekeeper"] == [
        "topic read agents/+/out",
        "topic write agents/+/in",
        "topic write membrane/quarantine",
        "topic write fleet/news",
    ]
    # Kafka agents have no MQTT user; pattern agents are keyed on their user name.
    assert "carol" not in sections and "dave" not in sections
    assert sections["pattern"] == [
        "pattern write agents/%u/out",
        "pattern read agents/%u/in",
        "pattern read fleet/news",
    ]


def test_kafka_json_lists_allow_acls_for_kafka_agents_and_membrane(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, str(rules), "--format", "kafka-json")
    assert code == 0
    acls = json.loads(out)
    by_principal: dict[str, set[tuple[str, str, str, str]]] = {}
    for acl in acls:
        assert acl["permission"] == "Allow"
        by_principal.setdefault(acl["principal"], set()).add(
            (acl["operation"], acl["resource_type"], acl["resource_name"], acl["pattern_type"])
        )
    assert set(by_principal) == {"User:membrane", "User:carol", "User:dave"}
    assert by_principal["User:carol"] == {
        ("Write", "Topic", "agents.carol.outbox", "LITERAL"),
        ("Read", "Topic", "agents.carol.inbox", "LITERAL"),
        ("Read", "Group", "carol", "PREFIXED"),
        ("Read", "Topic", "fleet.board", "LITERAL"),
    }
    membrane = by_principal["User:membrane"]
    assert ("Read", "Topic", "agents.", "PREFIXED") in membrane
    assert ("Write", "Topic", "agents.", "PREFIXED") in membrane
    assert ("Write", "Topic", "membrane.quarantine", "LITERAL") in membrane
    assert ("Read", "Group", "relay", "LITERAL") in membrane
    assert ("Write", "Topic", "fleet.board", "LITERAL") in membrane
    # No agent may write another's inbox or read another's outbox.
    for principal, grants in by_principal.items():
        if principal == "User:membrane":
            continue
        agent = principal.removeprefix("User:")
        for operation, kind, name, _ in grants:
            if kind == "Topic" and name.startswith("agents."):
                expected = "outbox" if operation == "Write" else "inbox"
                assert name == f"agents.{agent}.{expected}"


def test_kafka_commands_are_runnable_shell(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, str(rules), "--format", "kafka", "--agent-principal", "User:CN={agent}"
    )
    assert code == 0
    assert out.startswith("#!/bin/sh\n")
    assert 'BOOTSTRAP="${BOOTSTRAP:-kafka-0:9092}"' in out
    assert (
        "--allow-principal User:CN=carol --operation Write --topic agents.carol.outbox "
        "--resource-pattern-type literal"
    ) in out
    commands = [line for line in out.splitlines() if line.startswith('"$KAFKA_ACLS"')]
    assert len(commands) == 7 + 2 * 4  # membrane: six plus the channel; four per Kafka agent
    assert all(" --add " in line for line in commands)


def test_out_writes_every_file(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "acls"
    code, out, _ = _run(capsys, str(rules), "--out", str(target))
    assert code == 0
    assert sorted(p.name for p in target.iterdir()) == [
        "kafka-acls.json",
        "kafka-acls.sh",
        "mosquitto.acl",
    ]
    assert out.count("wrote ") == 3
    assert "user alice" in (target / "mosquitto.acl").read_text()


def test_invalid_rules_exit_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nagents:\n  alice: {transport: pigeon}\n")
    code, _, err = _run(capsys, str(bad))
    assert code == 1
    assert "membrane acls:" in err and "transport" in err


def test_principal_template_without_placeholder_is_refused(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, str(rules), "--agent-principal", "User:fixed")
    assert code == 1
    assert "{agent}" in err


def test_unknown_format_is_a_usage_error(rules: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["acls", str(rules), "--format", "xml"])
    assert caught.value.code == 2
