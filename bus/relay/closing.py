"""Closing an aiokafka client within a time bound, whatever state the broker is in.

``stop_client`` waits up to ``timeout`` seconds for a client's ``stop``. Two
ways a stop goes wrong when the broker is away or hung:

- It takes longer: a producer's stop first waits until every batch it holds
  is acknowledged or expired. Cancelling it then would leave its sender, its
  metadata task and its connections running for good (the client already
  counts itself closed, so no later stop reaches them). The stop is left to
  finish on its own instead, bounded by the client's request timeout; the
  caller goes on at once.
- It raises the wrong thing: a consumer stopped while its fetcher retries a
  lost broker re-raises the ``CancelledError`` of its own fetch task, which
  it has just cancelled (aiokafka 0.14, ``Fetcher.close``), and gives up
  before closing its connections. Let through, that error ended the relay's
  supervising task as if it had been cancelled: a session restarted during
  an outage left the relay dead for good, and ``stop`` raised instead of
  returning. The consumer's connections are closed here instead.

A cancellation of the caller itself is passed on, as it should be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

_finishing: set[asyncio.Task[None]] = set()  # stops left to finish; referenced until they do


async def stop_client(client: Any, timeout: float) -> None:
    """Stop an aiokafka producer or consumer, waiting at most ``timeout`` seconds."""
    name = type(client).__name__
    stopping = asyncio.create_task(client.stop(), name=f"membrane-stop-{name}")
    try:
        await asyncio.wait({stopping}, timeout=timeout)
    finally:
        if not stopping.done():
            _finishing.add(stopping)
            stopping.add_done_callback(_finished)
    if not stopping.done():
        log.debug("closing %s: still closing after %.1fs; it finishes on its own", name, timeout)
    elif stopping.cancelled():
        log.debug("closing %s: the cancellation of its own task leaked out", name)
        connections = getattr(client, "_client", None)  # a consumer's, left open
        if connections is not None:
            with contextlib.suppress(TimeoutError, KafkaError, OSError):
                await asyncio.wait_for(connections.close(), timeout)
    elif isinstance(error := stopping.exception(), (KafkaError, OSError)):
        log.debug("closing %s: %r", name, error)
    elif error is not None:
        raise error


def _finished(task: asyncio.Task[None]) -> None:
    _finishing.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.debug("closing %s ended with %r", task.get_name(), error)
