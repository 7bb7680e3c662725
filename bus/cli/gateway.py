"""``membrane gateway``: run the Kafka-protocol gateway in front of a Kafka cluster.

Agents point their unmodified Kafka clients at ``--listen``; the gateway
forwards to ``--upstream`` and applies the rules on the way (docs/gateway.md).
SIGHUP, or a change to a rules file, reloads the rules (an invalid file keeps the old policy);
SIGTERM and SIGINT stop the gateway. Exit status: 0 after a clean stop,
1 when the rules or settings are invalid, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from bus.http import MetricsServer, parse_address
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.policy.holder import ReloadResult
from bus.relay.reloader import RulesReloader
from bus.sensors import SensorHub

log = logging.getLogger("membrane.gateway")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules",
        action="append",
        required=True,
        metavar="PATH",
        help="rules file (repeat to merge several)",
    )
    parser.add_argument(
        "--upstream",
        metavar="HOST:PORT[,HOST:PORT...]",
        help="bootstrap brokers of the real cluster (default: kafka.bootstrap in the rules file)",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:9092",
        metavar="HOST:PORT",
        help="where clients connect (default 127.0.0.1:9092); brokers get the ports after it",
    )
    parser.add_argument(
        "--agent",
        metavar="ID",
        help="sidecar mode: every connection is this agent (otherwise the rules "
        "file's gateway.identity decides)",
    )
    parser.add_argument(
        "--advertise-host",
        metavar="HOST",
        help="host clients reach the gateway at (default: the --listen host)",
    )
    parser.add_argument(
        "--max-hold",
        type=float,
        metavar="SECONDS",
        help="longest a produce request is held to throttle (default: rules file)",
    )
    parser.add_argument(
        "--metrics-addr",
        default="127.0.0.1:9464",
        metavar="HOST:PORT",
        help="serves /metrics, /healthz and /readyz (default 127.0.0.1:9464)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


async def _serve(args: argparse.Namespace) -> int:
    from bus.gateway.server import Gateway

    holder = PolicyHolder(load_policy(*args.rules))
    metrics = Metrics()
    metrics.policy_version.info({"version": holder.current.version})
    sensors = SensorHub(holder.current.rules.sensors)
    sensors.register(metrics)
    gateway = Gateway(
        holder,
        upstream=args.upstream,
        listen=args.listen,
        agent=args.agent,
        advertised_host=args.advertise_host,
        metrics=metrics,
        sensors=sensors,
        max_hold=args.max_hold,
    )
    host, port = parse_address(args.metrics_addr)
    http = MetricsServer(metrics, host, port, ready=lambda: gateway.running)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # SIGHUP, or a rules file changed on disk (a Kubernetes ConfigMap update), reloads.
    watcher = RulesReloader(_VersionReporting(holder, metrics), args.rules, metrics)
    loop.add_signal_handler(signal.SIGHUP, lambda: watcher.reload("SIGHUP"))
    await watcher.start()
    async with http, gateway:
        who = f"agent {args.agent}" if args.agent else f"{gateway.state.identity} identities"
        log.info(
            "gateway for %s on %s -> %s (policy %s, metrics %s)",
            who,
            gateway.bootstrap,
            ",".join(f"{h}:{p}" for h, p in gateway.upstream),
            holder.current.version,
            http.url,
        )
        await stop.wait()
        log.info("stopping")
    await watcher.stop()
    return 0


class _VersionReporting:
    """The holder, also publishing each policy it loads as ``membrane_policy``."""

    def __init__(self, holder: PolicyHolder, metrics: Metrics) -> None:
        self._holder = holder
        self._metrics = metrics

    def reload(self, *paths: str | Path) -> ReloadResult:
        result = self._holder.reload(*paths)
        if result.ok:
            self._metrics.policy_version.info({"version": result.version})
        return result


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_serve(args))
    return 0
