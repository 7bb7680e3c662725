"""``load_rules``: files → one validated ``RulesFile``, or a ``ConfigError``
that says where (file, line, column, ``$.path``) and why.

Several files merge into one: ``agents``, ``groups`` and ``channels`` merge
by name (a name defined twice is an error); ``topology``, ``edges``,
``constitution`` and ``filters`` concatenate in file order; any other
section may appear in several files only with identical content.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec

from bus.errors import ConfigError
from bus.rules.schema import RulesFile
from bus.rules.sources import PathKey, Positions, read_source, render_path
from bus.rules.validate import Problem, validate

T = TypeVar("T")

MERGED_BY_NAME: Final = ("agents", "groups", "channels")
CONCATENATED: Final = ("topology", "edges", "constitution", "filters")

_TOKEN: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[(\.\.\.)\]")
_UNKNOWN_FIELD: Final = re.compile(r"Object contains unknown field `([^`]*)`")
_UNKNOWN_KEY: Final = "..."


@dataclass(frozen=True)
class Loaded:
    """A decoded rules file with the positions of its values and what validation found."""

    rules: RulesFile
    positions: Positions
    errors: tuple[ConfigError, ...]
    warnings: tuple[ConfigError, ...]


def load_file(path: str | Path, into: type[T]) -> tuple[T, Positions]:
    """One YAML or TOML file decoded into the Struct type ``into``, with positions."""
    positions = Positions()
    data = read_source(Path(path), positions)
    if not positions.values:
        positions.values[()] = (str(path), 0, 0)
    return decode(data, positions, into), positions


def load_rules(*paths: str | Path) -> RulesFile:
    """Read, merge, decode and validate rules files; raise ``ConfigError`` on the first error."""
    loaded = load_checked(*paths)
    if loaded.errors:
        first = loaded.errors[0]
        more = len(loaded.errors) - 1
        if more:
            first.message += f" (and {more} more problem{'s' if more > 1 else ''})"
            first.args = (first.describe(),)
        raise first
    return loaded.rules


def load_checked(*paths: str | Path) -> Loaded:
    """Like ``load_rules`` but returns every semantic error and warning.

    Syntax and type errors still raise: nothing can be checked beyond them.
    """
    if not paths:
        raise ConfigError("no rules file given")
    positions = Positions()
    documents = []
    for path in paths:
        own = Positions()
        documents.append((str(path), read_source(Path(path), own), own))
    data = _merge(documents, positions)
    rules = decode(data, positions, RulesFile)
    report = validate(rules)
    return Loaded(
        rules=rules,
        positions=positions,
        errors=tuple(to_error(p, positions) for p in report.errors),
        warnings=tuple(to_error(p, positions) for p in report.warnings),
    )


def decode(data: Any, positions: Positions, into: type[T]) -> T:
    """Plain data → ``into`` (a Struct); a type error names the path and its position."""
    try:
        return msgspec.convert(data, into)
    except msgspec.ValidationError as exc:
        message, path = _locate(data, str(exc), into)
        unknown = _UNKNOWN_FIELD.match(message)
        where = positions.locate((*path, unknown.group(1)), key=True) if unknown else None
        if where is None:
            where = positions.locate(path)
        error = ConfigError(message, path=render_path(path))
        _place(error, where)
        raise error from None


def to_error(problem: Problem, positions: Positions) -> ConfigError:
    error = ConfigError(problem.message, path=render_path(problem.path))
    _place(error, positions.locate(problem.path, key=problem.at_key))
    return error


def _place(error: ConfigError, where: tuple[str, int, int] | None) -> None:
    if where is not None:
        error.source, line, column = where
        error.line = line or None
        error.column = column or None
        error.args = (error.describe(),)


def _split(text: str) -> tuple[str, list[str | int]]:
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        return text, []
    tokens: list[str | int] = []
    for name, index, unknown in _TOKEN.findall(where.rstrip("`").removeprefix("$")):
        tokens.append(int(index) if index else (_UNKNOWN_KEY if unknown else name))
    return message, tokens


def _locate(data: Any, text: str, into: type[Any]) -> tuple[str, PathKey]:
    """Resolve msgspec's ``[...]`` (an unnamed dict key) into the offending key.

    msgspec does not name dict keys in its paths, so the failing entry is found
    by bisection: re-decode with half of the dict's keys until one is left.
    """
    message, tokens = _split(text)
    while _UNKNOWN_KEY in tokens:
        at = tokens.index(_UNKNOWN_KEY)
        prefix = tokens[:at]
        keys = list(_get(data, prefix))
        while len(keys) > 1:
            half = keys[: len(keys) // 2]
            failure = _failure(_restrict(data, prefix, half), into)
            keys = half if failure is not None and failure[1][:at] == prefix else keys[len(half) :]
        failure = _failure(_restrict(data, prefix, keys), into) if keys else None
        if failure is not None and failure[1][: at + 1] == [*prefix, _UNKNOWN_KEY]:
            message, tokens = failure
        tokens[at] = keys[0] if keys else "?"
    return message, tuple(str(t) if not isinstance(t, int) else t for t in tokens)


def _failure(data: Any, into: type[Any]) -> tuple[str, list[str | int]] | None:
    try:
        msgspec.convert(data, into)
    except msgspec.ValidationError as exc:
        return _split(str(exc))
    return None


def _get(data: Any, tokens: Sequence[str | int]) -> Any:
    for token in tokens:
        data = data[token]
    return data


def _restrict(data: Any, tokens: Sequence[str | int], keys: list[Any]) -> Any:
    """A copy of ``data`` where the dict at ``tokens`` keeps only ``keys``."""
    if not tokens:
        return {k: data[k] for k in keys}
    copy = list(data) if isinstance(data, list) else dict(data)
    copy[tokens[0]] = _restrict(data[tokens[0]], tokens[1:], keys)  # type: ignore[index]
    return copy


def _merge(documents: list[tuple[str, Any, Positions]], positions: Positions) -> Any:
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for source, data, own in documents:
        if not isinstance(data, dict):
            raise ConfigError("the top level must be a mapping of sections", source=source)
        offsets: dict[str, int] = {}
        for key, value in data.items():
            if key not in merged:
                merged[key] = value
                origin[key] = source
            elif key in MERGED_BY_NAME and isinstance(value, dict):
                if not isinstance(merged[key], dict):
                    merged[key] = {}
                for name, entry in value.items():
                    if name in merged[key]:
                        raise ConfigError(
                            f"{key[:-1]} {name!r} is already defined in {origin[key]}",
                            source=source,
                            path=render_path((key, str(name))),
                        )
                    merged[key] = {**merged[key], name: entry}
            elif key in CONCATENATED and isinstance(value, list) and isinstance(merged[key], list):
                offsets[key] = len(merged[key])
                merged[key] = [*merged[key], *value]
            elif merged[key] != value:
                raise ConfigError(
                    f"section {key!r} is also set, differently, in {origin[key]}",
                    source=source,
                    path=render_path((str(key),)),
                )
        _copy_positions(own, positions, offsets, source, data)
    return merged


def _copy_positions(
    own: Positions, into: Positions, offsets: dict[str, int], source: str, data: dict[Any, Any]
) -> None:
    def shift(path: PathKey) -> PathKey:
        if len(path) > 1 and path[0] in offsets and isinstance(path[1], int):
            return (path[0], path[1] + offsets[str(path[0])], *path[2:])
        return path

    for table, target in ((own.values, into.values), (own.keys, into.keys)):
        for path, where in table.items():
            target.setdefault(shift(path), where)
    for key in data:
        # Without positions (TOML), errors still name the file a section came from.
        into.values.setdefault((str(key),), (source, 0, 0))
    # An error about the whole document (an empty file lacks ``version``) names a file too.
    into.values.setdefault((), (source, 0, 0))
