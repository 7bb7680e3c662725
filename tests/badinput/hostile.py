"""Hostile and broken rules files, each with a fragment of the error it must produce.

Sizes are real: the "huge" files are written at their full size, just under
or over the loader's caps (4 MiB, 1,000,000 values, 64 levels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bus.rules import sources

MIB = 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    name: str  # also the file name: the extension picks YAML or TOML
    make: Callable[[], str | bytes]
    error: str  # a fragment the error message must contain
    heavy: bool = False  # megabytes to parse: measured in a child process, not traced


def _alias_bomb() -> str:
    lines = ["version: 1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _merge_bomb() -> str:
    lines = ["version: 1", "m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(50)) + "}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}], n{i}: 1}}"
              for i in range(1, 12)]
    return "\n".join(lines) + "\n"


def _flat_yaml_list() -> str:
    # Just under the size cap, and over the value cap: refused while streaming events.
    items = sources.MAX_VALUES + 10
    text = "version: 1\nx: [" + "1," * items + "1]\n"
    assert len(text) < sources.MAX_FILE_BYTES
    return text


def _flat_toml_list() -> str:
    items = sources.MAX_VALUES + 10
    text = "version = 1\nx = [" + "1," * items + "1]\n"
    assert len(text) < sources.MAX_FILE_BYTES
    return text


HOSTILE: tuple[Hostile, ...] = (
    Hostile("syntax.yaml", lambda: "version: 1\nagents: {a: [\n", "line"),
    Hostile("syntax.toml", lambda: "version = 1\n[agents\n", "invalid TOML"),
    Hostile("types.yaml", lambda: "version: 1\nagents: 5\n", "Expected `object`"),
    Hostile("types.toml", lambda: "version = 1\nedges = 'all'\n", "Expected `array`"),
    Hostile("unknown-field.yaml", lambda: "version: 1\nagnets: {}\n", "unknown field"),
    Hostile("top-level-list.yaml", lambda: "- version: 1\n", "top level must be a mapping"),
    Hostile("empty.yaml", lambda: "", "version"),
    Hostile("python-name.yaml", lambda: "version: 1\nx: !!python/name:os.system\n",
            "could not determine a constructor"),
    Hostile("python-apply.yaml",
            lambda: "version: 1\nagents: !!python/object/apply:os.system [touch pwned]\n",
            "Expected `object`, got `array`"),
    Hostile("nul-bytes.yaml", lambda: "version: 1\nagents: {a\0: {}}\n", "control characters"),
    Hostile("binary.yaml", lambda: bytes(range(256)) * 64, "not UTF-8"),
    Hostile("alias-bomb.yaml", _alias_bomb, "expands to more than"),
    Hostile("merge-key-bomb.yaml", _merge_bomb, "expands to more than"),
    Hostile("deep-flow.yaml", lambda: "version: 1\nx: " + "[" * 100_000 + "]" * 100_000,
            "nesting depth"),
    Hostile("deep-block.yaml",
            lambda: "version: 1\nx:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 2000)),
            "nest"),
    Hostile("deep-arrays.toml", lambda: "version = 1\nx = " + "[" * 100_000 + "]" * 100_000,
            "nested too deeply"),
    Hostile("deep-tables.toml", lambda: "version = 1\nx = " + "{a = " * 5_000 + "1" + "}" * 5_000,
            "nested too deeply"),
    Hostile("dotted-key.toml", lambda: "version = 1\n" + ".".join(["a"] * 100_000) + " = 1\n",
            "dotted key"),
    Hostile("dotted-table.toml", lambda: "version = 1\n[" + ".".join(["a"] * 100_000) + "]\n",
            "dotted key"),
    Hostile("deep-dotted.toml", lambda: "version = 1\n[" + ".".join(["a"] * 65) + "]\n",
            "nested deeper than"),
    Hostile("over-size.yaml", lambda: "version: 1\n" + "#" * (5 * MIB) + "\n", "the limit is"),
    Hostile("many-values.yaml", _flat_yaml_list, "more than 1000000 values", heavy=True),
    Hostile("many-values.toml", _flat_toml_list, "more than 1000000 values", heavy=True),
    Hostile("long-string.yaml", lambda: "version: 1\nx: '" + "y" * (3 * MIB) + "'\n",
            "unknown field"),
)
