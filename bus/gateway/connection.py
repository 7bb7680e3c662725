"""One client connection through the gateway: two pumps and an ordered queue.

The client→upstream pump reads a request, asks the handlers for a ``Plan``,
forwards the (possibly rewritten) request or prepares a local answer, and
queues a slot for the response. The upstream→client pump takes slots in
order: a forwarded request's slot reads the next upstream response (Kafka
answers in request order on a connection), checks its correlation id and
transforms it; a local slot writes its ready answer. So responses reach the
client in request order, whichever side produced them, and correlation ids
are never renumbered. The queue is bounded: a client that pipelines more
than ``max_in_flight`` requests waits, as on a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bus.errors import MembraneError, ProtocolError
from bus.gateway.frames import SIZE, read_frame, read_request_prefix, response_correlation_id
from bus.gateway.plan import Plan, ResponseTransform
from bus.gateway.session import Session

log = logging.getLogger(__name__)

Planner = Callable[[Session, bytes], Awaitable[Plan]]

MAX_IN_FLIGHT = 64


class _Slot:
    __slots__ = ("api_key", "correlation_id", "local", "spent", "transform")

    def __init__(
        self,
        api_key: int,
        correlation_id: int,
        local: bytes | None,
        transform: ResponseTransform | None,
        spent: float,
    ) -> None:
        self.api_key = api_key
        self.correlation_id = correlation_id
        self.local = local
        self.transform = transform
        self.spent = spent  # seconds of gateway work so far for this request


class Connection:
    """Proxies one accepted client socket to one upstream broker socket."""

    def __init__(
        self,
        session: Session,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        planner: Planner,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.session = session
        self._client_reader, self._client_writer = client
        self._upstream_reader, self._upstream_writer = upstream
        self._planner = planner
        self._slots: asyncio.Queue[_Slot | None] = asyncio.Queue(max_in_flight)

    async def run(self) -> None:
        """Pump until either side closes or breaks the protocol; then close both."""
        requests = asyncio.create_task(self._pump_requests())
        responses = asyncio.create_task(self._pump_responses())
        try:
            done, _ = await asyncio.wait({requests, responses}, return_when=asyncio.FIRST_COMPLETED)
            if responses not in done and requests.exception() is None:
                # The client finished sending: let the answers it awaits drain.
                await self._slots.put(None)
                await responses
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, ConnectionError):
                    raise exc
        except ConnectionError as exc:
            log.debug("gateway connection %s closed: %s", self.session.peer, exc)
        except MembraneError as exc:
            log.warning("gateway connection %s closed: %s", self.session.peer, exc)
        finally:
            for task in (requests, responses):
                task.cancel()
            for task in (requests, responses):
                with contextlib.suppress(BaseException):
                    await task
            for writer in (self._client_writer, self._upstream_writer):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _pump_requests(self) -> None:
        stats = self.session.state.stats
        max_frame = self.session.state.max_frame
        while True:
            body = await read_frame(self._client_reader, max_frame)
            if body is None:
                return
            started = time.perf_counter()
            prefix = read_request_prefix(body)
            plan = await self._planner(self.session, body)
            # Throttling holds inside the planner are deliberate, not added latency.
            spent = time.perf_counter() - started - plan.hold_seconds
            if plan.forward is not None:
                self._upstream_writer.write(plan.forward)
                await self._upstream_writer.drain()
            if not plan.expects_response:
                stats.record(prefix.api_key, spent)
                continue
            await self._slots.put(
                _Slot(prefix.api_key, prefix.correlation_id, plan.local, plan.transform, spent)
            )

    async def _pump_responses(self) -> None:
        stats = self.session.state.stats
        max_frame = self.session.state.max_frame
        while True:
            slot = await self._slots.get()
            if slot is None:
                return
            if slot.local is not None:
                frame = slot.local
                spent = slot.spent
            else:
                body = await read_frame(self._upstream_reader, max_frame)
                if body is None:
                    raise ConnectionError("upstream broker closed the connection")
                started = time.perf_counter()
                if response_correlation_id(body) != slot.correlation_id:
                    raise ProtocolError(
                        "correlation-mismatch",
                        f"upstream answered {response_correlation_id(body)}, "
                        f"expected {slot.correlation_id}",
                    )
                frame = slot.transform(body) if slot.transform else SIZE.pack(len(body)) + body
                spent = slot.spent + time.perf_counter() - started
            self._client_writer.write(frame)
            await self._client_writer.drain()
            stats.record(slot.api_key, spent)
