"""Hostile rules files are refused with a clear error naming the file, in bounded
memory, and the rules in force stay in force (``PolicyHolder.reload``).

Small cases are loaded under ``tracemalloc`` (peak of Python allocations);
the multi-megabyte ones in a child process whose peak resident memory is
read back, since tracing would slow their parsers tenfold. Both bounds are
generous. Times are printed, not asserted; the test timeout is the guard
against a parser that never ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from bus.policy import PolicyHolder, load_policy

from .hostile import HOSTILE, MIB, Hostile

pytestmark = pytest.mark.timeout(120)

TRACED_PEAK_BOUND = 64 * MIB
CHILD_RSS_GROWTH_BOUND = 160 * MIB  # above the interpreter with membrane imported

GOOD = """\
version: 1
agents: {alice: {}, bob: {}}
edges:
  - {name: alice-to-bob, from: alice, to: bob}
"""

# Reload a hostile file in a fresh interpreter; report the outcome and peak RSS growth.
CHILD = """
import json, resource, sys, time
from bus.policy import PolicyHolder, load_policy
holder = PolicyHolder(load_policy(sys.argv[1]))
before = holder.current
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
started = time.perf_counter()
result = holder.reload(sys.argv[2])
took = time.perf_counter() - started
growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
print(json.dumps({"ok": result.ok, "error": result.error, "kept": holder.current is before,
                  "took": took, "growth": growth}))
"""


def write(case: Hostile, directory: Path) -> Path:
    content = case.make()
    path = directory / case.name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def reload_traced(good: Path, path: Path) -> tuple[bool, str | None, bool, float, int]:
    holder = PolicyHolder(load_policy(good))
    before = holder.current
    tracemalloc.start()
    try:
        started = time.perf_counter()
        result = holder.reload(path)
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result.ok, result.error, holder.current is before, took, peak


def reload_in_child(good: Path, path: Path) -> tuple[bool, str | None, bool, float, int]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(good), str(path)],
                          capture_output=True, text=True, timeout=110, check=True)
    out = json.loads(done.stdout)
    return out["ok"], out["error"], out["kept"], out["took"], out["growth"]


@pytest.mark.parametrize("case", HOSTILE, ids=[c.name for c in HOSTILE])
def test_a_hostile_rules_file_is_refused_and_the_old_rules_kept(
    case: Hostile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    path = write(case, tmp_path)
    monkeypatch.chdir(tmp_path)  # where a YAML tag that ran a command would leave its file
    if case.heavy:
        ok, error, kept, took, peak = reload_in_child(good, path)
        bound = CHILD_RSS_GROWTH_BOUND
    else:
        ok, error, kept, took, peak = reload_traced(good, path)
        bound = TRACED_PEAK_BOUND
    print(f"\n{case.name}: {path.stat().st_size} bytes refused in {took:.2f}s, "
          f"peak {peak / MIB:.1f} MiB: {error}")
    assert not ok
    assert error is not None and case.error in error
    assert str(path) in error  # the error names the file
    assert kept
    assert peak < bound
    assert not (tmp_path / "pwned").exists()


def test_the_dotted_key_guard_leaves_ordinary_dots_alone(tmp_path: Path) -> None:
    """Lines with far more than 64 dots, in a comment and in a string, still load."""
    dotted = ".".join(["a"] * 100)
    path = tmp_path / "rules.toml"
    path.write_text(f"""\
# {dotted}
version = 1

[agents."svc.x.y"]
[agents.bob]

[channels.log]
topic = "{dotted}"  # {dotted}

[[edges]]
name = "to-bob"
from = "svc.x.y"
to = ["bob", "#log"]
""")
    policy = load_policy(path)
    assert policy.inbox_topic("#log") == dotted
