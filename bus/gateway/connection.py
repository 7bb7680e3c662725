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

Either side may leave while the gateway is not reading it (``streams``):

- the client leaves (EOF or a reset): answers have nowhere to go, so none
  is awaited — a broker drops them too — but the requests it sent before
  leaving are still forwarded, a held produce after its hold;
- the broker leaves: no more requests are forwarded, the answers it gave
  before leaving reach the client, and the client's connection is closed,
  so its client reconnects (through the gateway, to a broker that is up)
  instead of writing into a dead connection.

Each of these endings is bounded by ``settle`` seconds (a stalled peer
cannot hold the connection open); after that both sockets are closed.
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
from bus.gateway.streams import WatchedReader

log = logging.getLogger(__name__)

Planner = Callable[[Session, bytes], Awaitable[Plan]]

MAX_IN_FLIGHT = 64
# Longest a connection whose peer left takes to pass on what it already has,
# beyond any throttling hold.
SETTLE_SECONDS = 10.0


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
        client: tuple[WatchedReader, asyncio.StreamWriter],
        upstream: tuple[WatchedReader, asyncio.StreamWriter],
        planner: Planner,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.session = session
        self._client_reader, self._client_writer = client
        self._upstream_reader, self._upstream_writer = upstream
        self._planner = planner
        self._slots: asyncio.Queue[_Slot | None] = asyncio.Queue(max_in_flight)
        self._answering = True
        damper = session.state.damper
        self.settle = SETTLE_SECONDS + (damper.max_hold if damper is not None else 0.0)

    async def run(self) -> None:
        """Pump until either side leaves or breaks the protocol; then close both."""
        requests = asyncio.create_task(self._pump_requests())
        responses = asyncio.create_task(self._pump_responses())
        client_left = self._client_reader.ended
        upstream_left = self._upstream_reader.ended
        try:
            await asyncio.wait(
                {requests, responses, client_left, upstream_left},
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in (requests, responses):
                failure = task.exception() if task.done() else None
                if failure is not None:
                    raise failure
            if client_left.done():
                responses.cancel()
                self._stop_answering()
                await self._settle(requests, "forwarding what the client sent")
            else:
                requests.cancel()
                with contextlib.suppress(asyncio.QueueFull):
                    self._slots.put_nowait(None)
                await self._settle(responses, "answering what the broker answered")
        except ConnectionError as exc:
            log.debug("gateway connection %s closed: %s", self.session.peer, exc)
        except MembraneError as exc:
            log.warning("gateway connection %s closed: %s", self.session.peer, exc)
        except Exception:
            # A frame no check foresaw: this connection ends, the others go on.
            log.exception("gateway connection %s closed by an unexpected error", self.session.peer)
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

    def _stop_answering(self) -> None:
        """The client has left: forget the answers it awaited (a put waiting for room
        goes through) and queue no more."""
        self._answering = False
        while not self._slots.empty():
            self._slots.get_nowait()

    async def _settle(self, task: asyncio.Task[None], what: str) -> None:
        try:
            await asyncio.wait_for(task, self.settle)
        except TimeoutError:
            log.warning(
                "gateway connection %s: gave up %s after %gs", self.session.peer, what, self.settle
            )

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
            if not plan.expects_response or not self._answering:
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
