"""The relay: membrane's data plane on Kafka, as a service with start/stop.

Agents produce to their outbox topics and read their inbox topics; the relay
reads every outbox (a consumer group subscribed by pattern, or to a topic
list), decides each message through the engine, and produces to inboxes,
channel topics and the quarantine topic. Delivery is at-least-once with no
loss (commit only after every output is acknowledged), duplicates after a
crash are removed by the dedupe window, per-pair order is kept.

The relay supervises sessions (``bus.relay.session``): if the broker is
unreachable at start or fails mid-stream, the session is closed (its
inputs' tickets are abandoned, none was committed), and a new session is
opened after an exponential backoff with jitter; it resumes from the last
committed offsets, so nothing is lost. Messages the engine still holds for
abandoned tickets are left to come due and are then dropped by ``released``:
the engine may be shared with the MQTT bridge, whose held messages are not
the relay's to forget (forgetting them left the bridge's inputs waiting for
ever). ``stop`` drains and commits within a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Literal

from bus.backoff import Backoff
from bus.clock import SYSTEM_CLOCK, Clock
from bus.engine.commit import Ticket
from bus.engine.dedupe import DedupeWindow
from bus.engine.engine import Engine
from bus.engine.outcome import BROKER_REFUSED, Outcome, undeliverable
from bus.engine.ports import PolicySource, SensorSink
from bus.errors import UpstreamError
from bus.lifecycle import AsyncLifecycle
from bus.metrics import Metrics
from bus.relay.assignor import AffinityAssignor
from bus.relay.foreign import ForeignLane, Publisher
from bus.relay.kafka_options import client_options
from bus.relay.session import Session
from bus.relay.settings import RelaySettings
from bus.rules.transports import KafkaSettings

log = logging.getLogger(__name__)

Assignment = Literal["group", "agent", "partition"]
MAX_UNEXPECTED_FAILURES = 5


class Relay(AsyncLifecycle):
    """Reads outboxes, decides, writes inboxes/quarantine; see the module docstring.

    ``topics`` replaces the outbox pattern with a fixed list. ``assignment``
    picks how a consumer group shares the outboxes (``bus.relay.assignor``).
    ``publishers`` deliver outcomes for non-Kafka recipients (e.g. ``mqtt``).
    """

    def __init__(
        self,
        holder: PolicySource,
        *,
        bootstrap: str,
        metrics: Metrics | None = None,
        engine: Engine | None = None,
        settings: RelaySettings | None = None,
        kafka: KafkaSettings | None = None,
        topics: Sequence[str] | None = None,
        assignment: Assignment = "group",
        publishers: Mapping[str, Publisher] | None = None,
        sensors: SensorSink | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.bootstrap = bootstrap
        self.settings = settings if settings is not None else RelaySettings()
        self._holder = holder
        if engine is None:
            engine = Engine(holder, metrics=metrics, clock=clock, sensors=sensors,
                            transport_name="kafka")
            self._owns_engine = True
        else:
            self._owns_engine = False
        self.engine = engine
        self.metrics = engine.metrics
        self._options = client_options(kafka if kafka is not None else KafkaSettings(), bootstrap)
        self._topics = tuple(topics) if topics is not None else None
        self._assignment = assignment
        self._lanes = {name: ForeignLane(name, p, self._divert)
                       for name, p in (publishers or {}).items()}
        self._window = DedupeWindow(self.settings.dedupe_window)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: Session | None = None
        self._ready = asyncio.Event()
        self._drained = True
        self._grace = 10.0
        self.failed: BaseException | None = None

    # -- state -------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Connected, a member of the consumer group, and the broker answers."""
        session = self._session
        return self._ready.is_set() and session is not None and session.reachable

    @property
    def healthy(self) -> bool:
        """Running (possibly retrying the broker); False once it died or stopped."""
        return self._task is not None and not self._task.done()

    @property
    def in_flight(self) -> int:
        session = self._session
        return session.tracker.in_flight if session is not None else 0

    async def wait_ready(self, timeout: float) -> None:
        """Wait until the relay consumes; raises ``TimeoutError`` after ``timeout``."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping.clear()
        await self.engine.start()
        for lane in self._lanes.values():
            await lane.start()
        self.engine.on_release(self.released)
        self._task = asyncio.create_task(self._supervise(), name="membrane-relay")

    async def stop(self, grace: float = 10.0) -> bool:
        """Stop reading, finish what was read, commit, close. True if fully drained."""
        task = self._task
        if task is None:
            return self._drained
        self._grace = grace
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            log.warning("relay did not stop within %.1fs; closing now", grace)
            task.cancel()
            self._drained = False
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None
        if self._session is not None:  # cancelled mid-session: close the clients anyway
            await self._session.close(timeout=1.0)
            self._session = None
        self.engine.on_release(None)
        for lane in self._lanes.values():
            await lane.stop()
        if self._owns_engine:
            await self.engine.stop()
        return self._drained

    def _divert(self, outcome: Outcome, ticket: Ticket, error: UpstreamError) -> None:
        """Quarantine, on Kafka, an outcome another transport's broker refused for good."""
        session = self._session
        if session is None or ticket.abandoned:
            return  # the input is read again, by this relay or another
        self.metrics.quarantined.labels(BROKER_REFUSED).inc()
        copy = undeliverable(outcome, reason=BROKER_REFUSED, detail=str(error),
                             destination=self.engine.policy.quarantine_topic, transport="kafka")
        session.sink.submit(copy, ticket)
        session.sink.kick()

    # -- supervision -------------------------------------------------------

    def _assignor(self) -> AffinityAssignor | None:
        if self._assignment == "partition":
            return None
        by_group = self._assignment == "group"

        def key_of_topic(topic: str) -> str:
            policy = self._holder.current
            agent = policy.agent_of_outbox(topic)
            if agent is None:
                return topic
            return policy.group_of(agent) if by_group else agent

        return AffinityAssignor(key_of_topic)

    def _new_session(self) -> Session:
        return Session(self.engine, options=self._options, settings=self.settings,
                       window=self._window, topics=self._topics, assignor=self._assignor(),
                       lanes=self._lanes)

    async def _supervise(self) -> None:
        """Run sessions until stopped. A broker failure, or an unexpected error in a
        session, closes it and opens a new one after a backoff (what the failed
        session read but did not commit is read again, so nothing is lost; the
        engine's held messages are kept, see the module docstring);
        ``MAX_UNEXPECTED_FAILURES`` unexpected errors in a row end the relay."""
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        unexpected = 0
        while not self._stopping.is_set():
            session = self._new_session()
            try:
                await self._run_session(session)
                return
            except UpstreamError as exc:
                delay = backoff.next_delay()
                log.warning("Kafka at %s: %s; reconnecting in %.1fs (attempt %d)",
                            self.bootstrap, exc, delay, backoff.attempt)
            except Exception as exc:
                unexpected += 1
                if unexpected >= MAX_UNEXPECTED_FAILURES:
                    self.failed = exc
                    log.exception("relay stopped after %d unexpected errors in a row",
                                  unexpected)
                    await session.close(timeout=2.0)
                    raise
                delay = backoff.next_delay()
                log.exception("relay session failed unexpectedly; restarting it in %.1fs",
                              delay)
            finally:
                self._ready.clear()
            await session.close(timeout=2.0)
            self._session = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if session.joined.is_set():
                backoff.reset()
                unexpected = 0

    async def _run_session(self, session: Session) -> None:
        await session.open()
        self._session = session
        log.info("connected to Kafka at %s; reading %s as group %r", self.bootstrap,
                 f"topics {list(self._topics)}" if self._topics is not None
                 else f"outboxes matching {self.engine.policy.outbox_pattern}",
                 self.settings.group_id)
        joined = asyncio.create_task(self._mark_ready(session))
        try:
            await session.run(self._stopping)
        finally:
            joined.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace * 0.8
        self._drained = await session.drain(max(0.0, deadline - loop.time()))
        if not self._drained:
            log.warning("stopping with %d inputs unfinished; they are read again on restart",
                        session.tracker.in_flight)
        await session.close(max(0.1, deadline - loop.time()))
        self._session = None

    async def _mark_ready(self, session: Session) -> None:
        await session.joined.wait()
        self._ready.set()

    def released(self, outcomes: list[Outcome]) -> None:
        """The engine's release callback: outcomes of held messages this relay read.

        Registered by ``start``; a process that shares the engine with another
        transport calls it from a combined callback (outcomes of other
        transports' inputs are ignored here).
        """
        session = self._session
        if session is not None:
            session.released(outcomes)
