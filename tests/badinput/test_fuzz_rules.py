"""Property-based fuzzing of the rules loader: random text, byte mutations of the
shipped examples, and random documents in the schema's words, as YAML and TOML.
Whatever the file, ``load_policy`` returns a policy or raises ``ConfigError``
(validation and compilation included); nothing else escapes.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bus.errors import ConfigError
from bus.policy import load_policy

from .fuzzing import FUZZ, json_scalars

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def load_or_config_error(path: Path) -> None:
    try:
        load_policy(path)
    except ConfigError as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


@FUZZ
@given(text=st.text(max_size=400), suffix=st.sampled_from([".yaml", ".toml"]))
def test_random_text_is_a_rules_file_or_a_config_error(
    scratch: Path, text: str, suffix: str
) -> None:
    path = scratch / f"random{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load_or_config_error(path)


EXAMPLE_FILES = sorted(p for p in EXAMPLES_DIR.glob("*") if p.suffix in (".yaml", ".toml")
                       and ".cases." not in p.name)


@FUZZ
@given(example=st.sampled_from(EXAMPLE_FILES), seed=st.integers(0, 2**32 - 1),
       edits=st.integers(1, 8))
def test_mutated_example_rules_load_or_give_a_config_error(
    scratch: Path, example: Path, seed: int, edits: int
) -> None:
    """Byte-level mutations of the shipped examples reach validation and compilation."""
    data = bytearray(example.read_bytes())
    rng = random.Random(seed)
    for _ in range(edits):
        at = rng.randrange(len(data))
        action = rng.randrange(4)
        if action == 0:
            data[at] = rng.randrange(256)
        elif action == 1:
            del data[at]
        elif action == 2:
            data.insert(at, rng.choice(b"{}[]:,-&*!#'\"\n \t0123456789abcxyz._"))
        else:
            span = rng.randrange(1, 40)
            data[at:at] = data[rng.randrange(len(data)):][:span]
    path = scratch / f"mutated{example.suffix}"
    path.write_bytes(bytes(data))
    load_or_config_error(path)


SECTIONS = ["version", "agents", "groups", "channels", "topics", "topology", "edges",
            "constitution", "filters", "default", "default_mode", "kafka", "mqtt", "sensors"]
FIELDS = ["name", "from", "to", "action", "mode", "kinds", "max_bytes", "max_hops", "members",
          "patterns", "groups", "topic", "filter", "attach", "preset", "group", "k"]
documents = st.dictionaries(
    st.sampled_from(SECTIONS),
    st.recursive(json_scalars.filter(lambda v: v is not None),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner,
                                   max_size=3),
                 max_leaves=10),
    max_size=6,
).map(lambda d: {"version": 1, **d})


@FUZZ
@given(document=documents, toml=st.booleans())
def test_random_documents_in_the_schemas_words_load_or_give_a_config_error(
    scratch: Path, document: dict[str, object], toml: bool
) -> None:
    if toml:
        path = scratch / "document.toml"
        try:
            path.write_text(tomli_w.dumps(document))
        except (TypeError, ValueError):
            return  # not representable in TOML (e.g. a list mixing tables and values)
    else:
        path = scratch / "document.yaml"
        path.write_text(yaml.safe_dump(document))
    load_or_config_error(path)
