"""The registry: every filter decodes from rules data, builds with a clock, and is documented."""

from __future__ import annotations

import typing
from pathlib import Path

import msgspec
import pytest

from bus.clock import FakeClock
from bus.envelope import Envelope
from bus.verdict import Delay, Divert, Forward, Rewrite
from filters.base import FilterContext
from filters.registry import REGISTRY, AnyFilterConfig, build_filter

DOCS = Path(__file__).resolve().parents[2] / "docs" / "filters"


def test_the_union_and_the_registry_list_the_same_filters() -> None:
    in_union = {str(t.__struct_config__.tag) for t in typing.get_args(AnyFilterConfig)}
    assert in_union == set(REGISTRY)
    assert {"rate", "hops", "echo", "pingpong", "breaker", "conformity", "homeostat"} <= in_union


@pytest.mark.parametrize("name", sorted(REGISTRY))
async def test_each_filter_builds_from_defaults_and_decides(name: str) -> None:
    config = msgspec.convert({"filter": name, "name": f"my-{name}"}, AnyFilterConfig)
    assert type(config) is REGISTRY[name][0]
    assert config.instance_name == f"my-{name}"
    clock = FakeClock()
    flt = build_filter(config, clock)
    assert flt.config is config
    verdict = await flt.decide(Envelope(sender="a", payload=b"hi", stance="yes"), "b",
                               FilterContext(clock=clock, group_size=2))
    assert isinstance(verdict, Forward | Delay | Divert | Rewrite)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_filter_has_a_docs_page_with_parameters_metrics_and_an_example(name: str) -> None:
    page = (DOCS / f"{name}.md").read_text()
    config_type = REGISTRY[name][0]
    for field in config_type.__struct_fields__:
        assert f"`{field}`" in page, f"docs/filters/{name}.md does not describe {field}"
    assert "| Name | Type | Description |" in page
    assert f"filter: {name}" in page
    assert f"({name}.md)" in (DOCS / "README.md").read_text()


def test_a_bad_filter_entry_reports_where_it_is() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\[1\]\.burst"):
        msgspec.convert(
            [{"filter": "hops"}, {"filter": "rate", "burst": "ten"}], list[AnyFilterConfig]
        )
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'nope'"):
        msgspec.convert({"filter": "nope"}, AnyFilterConfig)
