"""``async with`` for the components that have ``start()`` and ``stop()``.

Every long-lived part of membrane (relay, bridge, gateway, metrics server,
embedded broker...) starts with ``await start()`` and ends with
``await stop()``, both safe to call twice. ``AsyncLifecycle`` derives the
context-manager protocol from that pair, so a block that leaves by an
exception stops the component just as one that ends normally does.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class AsyncLifecycle(abc.ABC):
    """A component used as ``async with component: ...`` over ``start()``/``stop()``."""

    __slots__ = ()

    @abc.abstractmethod
    async def start(self) -> None:
        """Open what the component needs; a second call does nothing."""

    @abc.abstractmethod
    async def stop(self) -> object:
        """Release what ``start`` opened; a second call does nothing."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
