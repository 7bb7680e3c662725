"""Hot reload: a valid file swaps the policy atomically, an invalid one keeps the old."""

from __future__ import annotations

from pathlib import Path

from bus.envelope import Envelope
from bus.policy import PolicyHolder, load_policy

V1 = "version: 1\nagents: {a: {}, b: {}}\nedges: [{name: a-to-b, from: a, to: b}]\n"
V2 = "version: 1\nagents: {a: {}, b: {}}\nedges: [{name: b-to-a, from: b, to: a}]\n"


def test_reload_swaps_to_the_new_policy(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    holder = PolicyHolder(load_policy(path))
    before = holder.current
    path.write_text(V2)
    result = holder.reload(path)
    assert result.ok and result.error is None
    assert result.version == holder.current.version != before.version
    env = Envelope(sender="b", payload=b"")
    assert holder.current.decide(env, "a").allowed
    assert not before.decide(env, "a").allowed


def test_invalid_reload_keeps_the_old_policy_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    holder = PolicyHolder(load_policy(path))
    before = holder.current
    path.write_text(V1.replace("to: b", "to: c"))
    result = holder.reload(path)
    assert not result.ok
    assert holder.current is before
    assert result.version == before.version
    assert result.error is not None
    assert "line 3" in result.error and "unknown agent or group 'c'" in result.error


def test_reload_of_a_missing_file_keeps_the_old_policy(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    holder = PolicyHolder(load_policy(path))
    result = holder.reload(tmp_path / "gone.yaml")
    assert not result.ok and result.error is not None and "cannot read" in result.error
    assert holder.current.decide(Envelope(sender="a", payload=b""), "b").allowed


def test_reload_of_unchanged_content_keeps_the_version(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    holder = PolicyHolder(load_policy(path))
    version = holder.current.version
    assert holder.reload(path).version == version
