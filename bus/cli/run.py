"""``membrane run``: the relay, with its metrics endpoint, hot reload and signals.

Without ``--bootstrap`` (and without ``kafka.bootstrap`` in the rules) an
embedded tansu broker is started on a free loopback port and stopped on
exit. SIGTERM or Ctrl-C stops reading, drains what was read, commits and
exits 0 within ``--grace`` seconds; SIGHUP (or editing a rules file) reloads
the rules, keeping the old ones if the new ones are invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import msgspec

from bus.demo_agents import DemoAgents
from bus.embedded import EmbeddedBroker
from bus.errors import ConfigError
from bus.http import MetricsServer, parse_address
from bus.log import LEVELS, configure_logging
from bus.metrics import Metrics
from bus.mqtt.service import MqttService, uses_mqtt
from bus.policy import Policy, PolicyHolder, load_policy
from bus.relay import Relay, RelaySettings
from bus.relay.gc_tuning import tune_collector
from bus.relay.reloader import RulesReloader
from bus.sensors import SensorHub

log = logging.getLogger("membrane.run")

DEMO_SUMMARY_EVERY = 5.0
# The embedded broker holds a group join for half the session timeout; one
# local relay needs no long timeout, so it starts consuming within a second or two.
EMBEDDED_SESSION_TIMEOUT = 3.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", action="append", required=True, metavar="PATH",
                        help="rules file (YAML or TOML); repeat to merge several")
    parser.add_argument("--bootstrap", metavar="HOST:PORT",
                        help="Kafka bootstrap servers (default: kafka.bootstrap from the rules, "
                             "else an embedded broker)")
    parser.add_argument("--group-id", metavar="NAME",
                        help="consumer group shared by relay replicas (default: kafka.group_id "
                             "from the rules, 'membrane')")
    parser.add_argument("--metrics-addr", default="127.0.0.1:9464", metavar="HOST:PORT",
                        help="where /metrics, /healthz and /readyz are served "
                             "(default 127.0.0.1:9464; port 0 picks a free one)")
    parser.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                        help="time to drain and commit on SIGTERM (default 10)")
    parser.add_argument("--session-timeout", type=float, metavar="SECONDS",
                        help="consumer-group session timeout: how soon a dead replica's "
                             "outboxes move to the others (default 10; 3 on the embedded broker)")
    parser.add_argument("--assign", choices=("group", "agent", "partition"), default="group",
                        help="how replicas share outboxes: whole outboxes bucketed by the "
                             "sender's interaction group (default), by sender, or per partition")
    parser.add_argument("--demo", action="store_true",
                        help="also run example agents and print what happens to their messages")
    parser.add_argument("--log-level", choices=LEVELS, default="info")


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    if args.grace <= 0:
        raise ConfigError("--grace must be positive")
    tune_collector()
    return asyncio.run(_serve(args))


def banner(policy: Policy, bootstrap: str, embedded: bool, metrics_url: str,
           paths: list[str]) -> str:
    """What an agent developer needs to know to connect."""
    rules = policy.rules
    example = policy.agents[0] if policy.agents else "my-agent"
    lines = [
        "membrane relay running",
        f"  Kafka bootstrap   {bootstrap}"
        + ("   (embedded tansu broker, in memory)" if embedded else ""),
        f"  agents write to   {rules.topics.outbox}   e.g. {policy.outbox_topic(example)}",
        f"  agents read from  {rules.topics.inbox}   e.g. {policy.inbox_topic(example)}",
        f"  quarantine        {policy.quarantine_topic}",
    ]
    for name, channel in rules.channels.items():
        if channel.topic is not None:
            lines.append(f"  channel #{name}   {channel.topic}")
    if uses_mqtt(rules):
        mqtt = rules.mqtt
        lines += [
            f"  MQTT broker       {mqtt.host}:{mqtt.port}   (MQTT {mqtt.protocol})",
            f"  MQTT agents       publish to {mqtt.outbox}, subscribe to {mqtt.inbox}",
        ]
    lines += [
        f"  metrics           {metrics_url}/metrics   (/healthz, /readyz)",
        f"  policy            {policy.version} from {', '.join(paths)} "
        f"({len(policy.agents)} agents, {len(rules.edges)} edge rules)",
        "Ctrl-C or SIGTERM drains and stops; SIGHUP or editing the rules reloads them.",
    ]
    return "\n".join(lines)


async def _serve(args: argparse.Namespace) -> int:
    holder = PolicyHolder(load_policy(*args.rules))
    policy = holder.current
    kafka = policy.rules.kafka
    metrics = Metrics()
    sensors = SensorHub(policy.rules.sensors)
    sensors.register(metrics)
    host, port = parse_address(args.metrics_addr)
    bootstrap = args.bootstrap or kafka.bootstrap
    broker = EmbeddedBroker() if bootstrap is None else None
    async with contextlib.AsyncExitStack() as stack:
        if broker is not None:
            await broker.start()
            stack.push_async_callback(broker.stop)
            bootstrap = broker.bootstrap
        assert bootstrap is not None
        settings = RelaySettings(group_id=args.group_id or kafka.group_id,
                                 client_id=kafka.client_id)
        timeout = args.session_timeout or (EMBEDDED_SESSION_TIMEOUT if broker else None)
        if timeout is not None:
            settings = msgspec.structs.replace(settings, session_timeout=timeout,
                                               heartbeat_interval=timeout / 3)
        mqtt = MqttService(policy.rules.mqtt) if uses_mqtt(policy.rules) else None
        relay = Relay(holder, bootstrap=bootstrap, metrics=metrics, settings=settings,
                      kafka=kafka, assignment=args.assign, sensors=sensors,
                      publishers=mqtt.publishers if mqtt is not None else None)
        server = MetricsServer(metrics, host, port, healthy=lambda: relay.healthy,
                               ready=lambda: relay.ready)
        await server.start()
        stack.push_async_callback(server.stop)
        reloader = RulesReloader(holder, args.rules, metrics)
        await reloader.start()
        stack.push_async_callback(reloader.stop)
        # The demo first: its outboxes then exist when the relay subscribes.
        demo = await _start_demo(stack, holder.current, bootstrap) if args.demo else None
        await relay.start()
        stack.push_async_callback(relay.stop, args.grace)
        if mqtt is not None:  # on the relay's engine: one policy, one filter state
            await mqtt.start(relay.engine, bootstrap=bootstrap, kafka=kafka,
                             also_release=relay.released)
            stack.push_async_callback(mqtt.stop, args.grace)
        print(banner(policy, bootstrap, broker is not None, server.url, args.rules), flush=True)
        if demo is not None:
            print(f"demo: {len(policy.agents)} agents talking; one line per outcome below",
                  flush=True)
        stop = _install_signals(lambda: reloader.reload("SIGHUP"))
        await _wait(stop, relay)
        if demo is not None:
            await demo.stop()  # first, so the relay can drain the demo's last messages
        # Both transports share the grace period; the relay first, since its
        # messages for MQTT agents go out on the bridge's connection.
        share = args.grace if mqtt is None else args.grace / 2
        drained = await relay.stop(share)
        if mqtt is not None:
            await mqtt.stop(share * 0.9)
        log.info("stopped (%s)", "all input committed" if drained
                 else "some input left uncommitted; it is read again on restart")
        return 1 if relay.failed is not None else 0
    return 1  # pragma: no cover - the exit stack never swallows exceptions


def _install_signals(on_hup: Callable[[], object]) -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    return stop


async def _wait(stop: asyncio.Event, relay: Relay) -> None:
    """Until a stop signal, or the relay dies of a bug."""
    while not stop.is_set() and relay.healthy:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _start_demo(stack: contextlib.AsyncExitStack, policy: Policy, bootstrap: str
                      ) -> DemoAgents:
    demo = DemoAgents(policy, bootstrap)
    await demo.start()
    stack.push_async_callback(demo.stop)

    async def summarise() -> None:
        while True:
            await asyncio.sleep(DEMO_SUMMARY_EVERY)
            print(demo.summary(), flush=True)

    task = asyncio.create_task(summarise())
    stack.callback(task.cancel)
    return demo
