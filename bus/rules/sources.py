"""Reading rules files into plain data, remembering where each value came from.

YAML is composed into a node graph with PyYAML's safe loader and then built
into Python objects by a walk that records the line and column of every
value (``Positions``), so a validation error at ``$.edges[3].to`` can point
at the line to fix. The walk is also the guard against hostile input: the
file size, the nesting depth and the number of values built (which counts
every expansion of a YAML alias) are capped, so an alias bomb fails fast.
The values of a YAML document are also counted on its event stream before
any node is composed, so a huge flat document is refused in constant
memory. TOML is parsed with ``tomllib``, which reports the line of syntax
errors only; its result is held to the same depth and value caps.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from bus.errors import ConfigError

MAX_FILE_BYTES: Final = 4 * 1024 * 1024  # tomllib takes about 2 s per MiB
MAX_DEPTH: Final = 64
MAX_VALUES: Final = 1_000_000

_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")
# TOML tokens for the dotted-key guard: bare words, strings (closed or not), blanks, one char.
_TOML_TOKEN: Final = re.compile(r"""[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"?|'[^'\n]*'?|[ \t]+|.""")

PathKey = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_VALUE_EVENTS: Final = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent,
                        yaml.AliasEvent)


@dataclass
class Positions:
    """Where values and mapping keys start in their source files (1-based)."""

    values: dict[PathKey, tuple[str, int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[str, int, int]] = field(default_factory=dict)

    def locate(self, path: PathKey, *, key: bool = False) -> tuple[str, int, int] | None:
        """The position of ``path``, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        probe = path
        while True:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return None
            probe = probe[:-1]


class _Builder:
    def __init__(self, loader: Any, source: str, positions: Positions) -> None:
        self.loader = loader
        self.source = source
        self.positions = positions
        self.count = 0

    def _mark(self, node: yaml.Node) -> tuple[str, int, int]:
        return (self.source, node.start_mark.line + 1, node.start_mark.column + 1)

    def _error(self, node: yaml.Node, message: str, path: PathKey) -> ConfigError:
        _, line, column = self._mark(node)
        return ConfigError(
            message, path=render_path(path), source=self.source, line=line, column=column
        )

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self._error(node, f"more than {MAX_VALUES} values (alias expansion?)", path)
        if len(path) > MAX_DEPTH:
            raise self._error(node, f"nested deeper than {MAX_DEPTH} levels", path)
        self.positions.values.setdefault(path, self._mark(node))
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    raise self._error(key_node, "mapping keys must be plain scalars", path)
                if key in result:
                    raise self._error(key_node, f"duplicate key {key!r}", path)
                child = (*path, str(key))
                self.positions.keys.setdefault(child, self._mark(key_node))
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    """How many values building ``node`` creates, every alias expanded.

    Memoised per node, so it costs one pass over the composed graph even when
    aliases make the expansion exponential. Below ``MAX_DEPTH`` it stops
    counting: the builder rejects such nesting with its path.
    """
    known = memo.get(id(node))
    if known is not None:
        return known
    if depth > MAX_DEPTH:
        return 1
    total = 1
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    for child in children:
        total += _expanded_size(child, memo, depth + 1)
        if total > MAX_VALUES:
            break
    memo[id(node)] = total
    return total


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                f"file is {size} bytes; the limit is {MAX_FILE_BYTES}", source=str(path)
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None


def _count_events(text: str, source: str) -> None:
    """Refuse more than ``MAX_VALUES`` values before composing: a composed node
    costs hundreds of bytes, an event is dropped as soon as it is counted."""
    count = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _VALUE_EVENTS):
            count += 1
            if count > MAX_VALUES:
                raise ConfigError(f"more than {MAX_VALUES} values", source=source)


def parse_yaml(text: str, source: str, positions: Positions) -> Any:
    loader = _Loader(text)
    try:
        _count_events(text, source)
        node = loader.get_single_node()
        if node is None:
            return {}
        expanded = _expanded_size(node, {})
        if expanded > MAX_VALUES:
            raise ConfigError(
                f"the document expands to more than {MAX_VALUES} values (YAML aliases?)",
                source=source,
            )
        return _Builder(loader, source, positions).build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(
            message,
            source=source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from None
    except RecursionError:
        raise ConfigError("nested too deeply", source=source) from None
    finally:
        loader.dispose()


def _check_shape(data: Any, source: str) -> None:
    """``MAX_DEPTH`` and ``MAX_VALUES`` for data that did not come through the YAML
    builder; iterative, so depth itself cannot exhaust the stack."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"more than {MAX_VALUES} values", source=source)
        if depth > MAX_DEPTH:
            raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", source=source)
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def _check_dotted_keys(text: str, source: str) -> None:
    """Refuse a dotted key of more than ``MAX_DEPTH`` parts before ``tomllib`` sees it:
    its cost grows with the square of the parts (40,000 take half a minute).

    Only lines with more than ``MAX_DEPTH`` dots are tokenised; a chain is
    ``part . part . …`` with bare or quoted parts, so floats and dates in
    values, dots inside strings and comments do not count.
    """
    for line in text.splitlines():
        if line.count(".") <= MAX_DEPTH:
            continue
        dots, after_part = 0, False
        for match in _TOML_TOKEN.finditer(line):
            token = match.group()
            if token[0] in " \t":
                continue
            if token == "#":
                break  # a comment (a '#' inside a string is part of its token)
            if token == ".":
                dots = dots + 1 if after_part else 0
                after_part = False
                if dots > MAX_DEPTH:
                    raise ConfigError(f"a dotted key of more than {MAX_DEPTH} parts",
                                      source=source)
            elif token[0] in "\"'" or _PLAIN_KEY.fullmatch(token):
                if after_part:  # two parts without a dot between: not one key
                    dots = 0
                after_part = True
            else:
                dots, after_part = 0, False


def parse_toml(text: str, source: str) -> Any:
    _check_dotted_keys(text, source)
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ConfigError("nested too deeply", source=source) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = column = None
        if "(at line " in message:
            message, _, where = message.partition(" (at line ")
            line_text, _, column_text = where.rstrip(")").partition(", column ")
            line, column = int(line_text), int(column_text)
        raise ConfigError(
            f"invalid TOML: {message}", source=source, line=line, column=column
        ) from None
    _check_shape(data, source)
    return data


def read_source(path: Path, positions: Positions) -> Any:
    """Plain data from one YAML (.yaml/.yml) or TOML (.toml) file."""
    text = _read(path)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return parse_toml(text, str(path))
    if suffix in (".yaml", ".yml"):
        return parse_yaml(text, str(path), positions)
    raise ConfigError("unknown rules file type: use .yaml, .yml or .toml", source=str(path))


def render_path(path: PathKey) -> str:
    """``("edges", 3, "to")`` as ``$.edges[3].to``."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out
