"""``AsyncLifecycle``: ``async with`` starts, returns the component, and stops on every exit."""

from __future__ import annotations

import pytest

from bus.lifecycle import AsyncLifecycle


class Recorder(AsyncLifecycle):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_async_with_starts_then_stops_the_same_object() -> None:
    component = Recorder()
    async with component as entered:
        assert entered is component
        assert component.calls == ["start"]
    assert component.calls == ["start", "stop"]


async def test_an_exception_in_the_block_still_stops_and_propagates() -> None:
    component = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        async with component:
            raise RuntimeError("boom")
    assert component.calls == ["start", "stop"]


def test_a_component_without_start_and_stop_cannot_be_made() -> None:
    class Incomplete(AsyncLifecycle):
        pass

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]
