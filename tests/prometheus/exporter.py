"""A stand-in for the relay's /metrics: SensorHub and Metrics fed by the scenario.

Routes each scripted message as the scenario's rules would (members of one
group reach each other, anything else is quarantined as ``default-deny``),
feeds the real SensorHub, and keeps the relay's series moving the way a relay
does, over prometheus_client's HTTP server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import start_http_server

from bus.embedded import free_port
from bus.envelope import Envelope
from bus.metrics import Metrics
from bus.rules import load_rules
from bus.sensors import SensorHub

from .scenario import HERD, PAIR, RULES, play

TRANSPORT = "kafka"


class ScenarioExporter:
    def __init__(self, rules_path: str) -> None:
        self.metrics = Metrics()
        self.hub = SensorHub(load_rules(rules_path).sensors)
        self.hub.register(self.metrics)
        self._groups = {**dict.fromkeys(HERD, "herd"), **dict.fromkeys(PAIR, "pair")}
        self._runs: dict[frozenset[str], tuple[str, int]] = {}
        m = self.metrics
        m.policy_version.info({"version": "scenario"})
        m.broker_up.labels(TRANSPORT).set(1)
        m.consumer_lag.labels(TRANSPORT).set(0)
        m.in_flight.labels(TRANSPORT).set(0)
        for name in ("pingpong", "homeostat"):
            for verdict in ("forward", "delay", "divert", "rewrite"):
                m.filter_verdicts.labels(name, verdict, "enforce")
            m.filter_errors.labels(name, "open")

    def send(self, sender: str, stance: str | None, to: tuple[str, ...] | None,
             hops: int) -> None:
        m = self.metrics
        started = time.perf_counter()
        now = time.monotonic()
        group = self._groups[sender]
        env = Envelope(sender=sender, payload=b'{"text": "..."}', stance=stance, hops=hops)
        m.received.labels(TRANSPORT).inc()
        m.received_bytes.labels(TRANSPORT).inc(env.size)
        self.hub.observe_sent(env, group, now)
        recipients = to if to is not None else tuple(
            a for a, g in self._groups.items() if g == group and a != sender
        )
        for recipient in recipients:
            if self._groups[recipient] != group:
                m.decisions.labels("default", "deny").inc()
                m.messages.labels(TRANSPORT, "quarantined").inc()
                m.quarantined.labels("default-deny").inc()
                continue
            m.decisions.labels(f"{group}-talks", "allow").inc()
            self._filters(group, sender, recipient)
            m.messages.labels(TRANSPORT, "forwarded").inc()
            self.hub.observe_delivered(env, recipient, group, now)
            m.end_to_end_seconds.labels(TRANSPORT).observe(0.004)
        m.decision_seconds.observe(time.perf_counter() - started)

    def _filters(self, group: str, sender: str, recipient: str) -> None:
        m = self.metrics
        if group == "herd":
            m.filter_verdicts.labels("homeostat", "forward", "enforce").inc()
            m.filter_seconds.labels("homeostat").observe(0.00002)
            rate = self.hub.value("herd", "message_rate")
            m.homeostat_measured.labels("homeostat", "herd").set(rate)
            m.homeostat_setpoint.labels("homeostat", "herd").set(40)
            m.homeostat_output.labels("homeostat", "herd").set(200)
            return
        pair = frozenset((sender, recipient))
        last, run = self._runs.get(pair, ("", 0))
        run = run + 1 if last != sender else 1
        self._runs[pair] = (sender, run)
        m.filter_seconds.labels("pingpong").observe(0.00002)
        if run > 4:
            m.filter_verdicts.labels("pingpong", "delay", "enforce").inc()
            m.messages.labels(TRANSPORT, "delayed").inc()
            m.delay_seconds.observe(0.05 * (run - 4))
        else:
            m.filter_verdicts.labels("pingpong", "forward", "enforce").inc()


@contextmanager
def scenario_exporter(rules_path: str) -> Iterator[tuple[str, threading.Thread]]:
    """Serve /metrics on a free port and play the scenario in a thread."""
    exporter = ScenarioExporter(rules_path)
    port = free_port()
    server, server_thread = start_http_server(port, addr="127.0.0.1",
                                              registry=exporter.metrics.registry)
    player = threading.Thread(target=play, args=(exporter.send,), daemon=True)
    try:
        yield f"127.0.0.1:{port}", player
    finally:
        player.join(60)
        server.shutdown()
        server.server_close()
        server_thread.join(5)


__all__ = ["RULES", "scenario_exporter"]
