"""Membrane's relay as a benchmark child process.

The same ``bus.relay.Relay`` that ``membrane run`` serves, without the HTTP
endpoint and with the sensors optional (the *topology only* configuration
runs policy alone). It reads exactly the outboxes of the agents its rules
file lists, so topics of other runs on the same broker are left alone, and
prints ``ready`` once it is a member of its consumer group.

Run as ``python -m bus.bench.membrane_relay --rules PATH --bootstrap HOST:PORT
--group NAME [--no-sensors] [--metrics-port PORT]``; with a port it serves
/metrics there, from which the bench reads the relay's own read-to-acknowledged
time (``membrane_relay_transit_seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from bus.http import MetricsServer
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.relay import Relay, RelaySettings
from bus.relay.gc_tuning import tune_collector
from bus.sensors import SensorHub

READY = "ready"
JOIN_TIMEOUT = 60.0
# Short enough that a local broker forms the group in a few seconds; Kafka's
# default floor for the session timeout is 6 s.
SESSION_TIMEOUT = 6.0
# The embedded broker answers a read only when the wait expires (a Kafka
# broker answers as soon as records arrive): every reader of the benchmark
# waits at most this long, so the added latency measured is the relay's.
FETCH_MAX_WAIT = 0.01


async def serve(args: argparse.Namespace) -> None:
    holder = PolicyHolder(load_policy(args.rules))
    policy = holder.current
    metrics = Metrics()
    sensors = None
    if args.sensors:
        sensors = SensorHub(policy.rules.sensors)
        sensors.register(metrics)
    settings = RelaySettings(group_id=args.group, session_timeout=SESSION_TIMEOUT,
                             heartbeat_interval=SESSION_TIMEOUT / 3, fetch_max_wait=FETCH_MAX_WAIT)
    topics = [policy.outbox_topic(agent) for agent in policy.agents]
    relay = Relay(holder, bootstrap=args.bootstrap, metrics=metrics, settings=settings,
                  topics=topics, assignment="agent", sensors=sensors)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Only /metrics matters here: the bench reads the relay's own timings from it.
    server = MetricsServer(metrics, port=args.metrics_port) if args.metrics_port else None
    await relay.start()
    try:
        if server is not None:
            await server.start()
        await relay.wait_ready(JOIN_TIMEOUT)
        print(READY, flush=True)
        await stop.wait()
    finally:
        if server is not None:
            await server.stop()
        await relay.stop(grace=5.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="membrane's relay as a benchmark child")
    parser.add_argument("--rules", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--no-sensors", dest="sensors", action="store_false")
    parser.add_argument("--metrics-port", type=int, default=0,
                        help="serve /metrics on 127.0.0.1 at this port (0: not at all)")
    args = parser.parse_args(argv)
    tune_collector()  # as ``membrane run``
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
