"""Whether the broker still answers, for the readiness probe and the connected gauge.

A relay's clients retry a lost broker on their own: reads just come back
empty, and nothing fails until a write does, which with no traffic may be
never. So the session asks the broker for its metadata every
``PROBE_INTERVAL`` seconds, in the background (the producer's client;
the request is small), and the broker counts as unreachable once no probe
has succeeded for ``UNREACHABLE_AFTER`` seconds. While unreachable, the
relay is not ready (``/readyz`` answers 503) and
``membrane_broker_connected`` is 0; both recover with the next answer. The
gauge is this module's alone: 1 from the session's connection, 0 from its
close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bus.engine.tasks import BackgroundTask

log = logging.getLogger(__name__)

PROBE_INTERVAL = 2.0  # seconds
UNREACHABLE_AFTER = 3 * PROBE_INTERVAL + 1.0  # seconds without an answer


class Reachability:
    """Background metadata probes through an aiokafka client; see the module docstring."""

    def __init__(self, client: Any, gauge: Any) -> None:
        self._client = client
        self._gauge = gauge
        self._answered_at = asyncio.get_running_loop().time()
        self._task = BackgroundTask(self._probe_forever, "membrane-broker-probe")

    @property
    def reachable(self) -> bool:
        return asyncio.get_running_loop().time() - self._answered_at <= UNREACHABLE_AFTER

    def start(self) -> None:
        """Begin probing; call once connected (so the broker has just answered)."""
        self._answered_at = asyncio.get_running_loop().time()
        self._gauge.set(1)
        self._task.start()

    async def stop(self) -> None:
        """Stop probing; the connection is being closed, so the gauge drops to 0."""
        await self._task.stop()
        self._gauge.set(0)

    async def _probe_forever(self) -> None:
        loop = asyncio.get_running_loop()
        was_reachable = True
        while True:
            answered = False
            with contextlib.suppress(Exception):  # any failure is "no answer"
                answered = bool(await asyncio.wait_for(self._client.force_metadata_update(),
                                                       UNREACHABLE_AFTER))
            if answered:
                self._answered_at = loop.time()
            reachable = self.reachable
            if reachable != was_reachable:
                log.warning("broker %s", "answers again" if reachable else
                            f"has not answered for {UNREACHABLE_AFTER:g}s; not ready")
                was_reachable = reachable
            self._gauge.set(1 if reachable else 0)
            await asyncio.sleep(PROBE_INTERVAL)
