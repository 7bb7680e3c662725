"""Closing an aiokafka client within a time bound, whatever state the broker is in.

A client is stopped within ``timeout`` seconds; a timeout or a Kafka error
only means the connection dies with the process or the next session. One
more case needs care: a consumer stopped while its fetcher retries a lost
broker re-raises the ``CancelledError`` of its own fetch task, which it has
just cancelled (aiokafka 0.14, ``Fetcher.close``), and gives up before
closing its connections. Let through, that error ended the relay's
supervising task as if it had been cancelled: a session restarted during an
outage left the relay dead for good, and ``stop`` raised instead of
returning. So it is passed on only when the calling task is itself being
cancelled; otherwise the consumer's connections are closed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)


async def stop_client(client: Any, timeout: float) -> None:
    """Stop an aiokafka producer or consumer within ``timeout`` seconds; never raises
    but for the cancellation of the calling task."""
    try:
        await asyncio.wait_for(client.stop(), timeout)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.debug("closing %s: the cancellation of its own task leaked out",
                  type(client).__name__)
        connections = getattr(client, "_client", None)  # a consumer's; left open by stop
        if connections is not None:
            with contextlib.suppress(TimeoutError, KafkaError, OSError):
                await asyncio.wait_for(connections.close(), timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        log.debug("closing %s: %r", type(client).__name__, exc)
