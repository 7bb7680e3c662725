"""``membrane replay``: send quarantined messages through the current policy again.

Typical use: a rule was too strict, it has been fixed, and the messages it
refused should now reach their recipients. Each quarantined record is
replayed at most once per replay group (progress is committed), what is
still refused is quarantined again with ``membrane-replayed`` counting the
replays, and records replayed ``--max-replays`` times are left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import datetime

from bus.engine.engine import Engine
from bus.errors import ConfigError
from bus.log import LEVELS, configure_logging
from bus.metrics import Metrics
from bus.policy import PolicyHolder, load_policy
from bus.relay.kafka_options import client_options
from bus.relay.replay import Replayer, ReplayFilter

DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """``30m``, ``2h``, ``1d`` (ago) or an ISO 8601 time → epoch seconds."""
    match = DURATION.fullmatch(text.strip())
    if match:
        ago = float(match.group(1)) * UNIT_SECONDS[match.group(2)]
        return (time.time() if now is None else now) - ago
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since {text!r}: use a duration like 30m, 2h, 1d "
                          "or an ISO 8601 time like 2024-05-01T12:00:00+00:00") from None
    return moment.timestamp()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", action="append", required=True, metavar="PATH",
                        help="rules file(s) whose policy decides the replayed messages")
    parser.add_argument("--bootstrap", metavar="HOST:PORT",
                        help="Kafka bootstrap servers (default: kafka.bootstrap from the rules)")
    parser.add_argument("--since", metavar="WHEN",
                        help="only messages quarantined after this (30m, 2h, 1d or ISO 8601)")
    parser.add_argument("--limit", type=int, metavar="N", help="replay at most N messages")
    parser.add_argument("--reason", action="append", default=[], metavar="SLUG",
                        help="only messages quarantined for this reason (repeatable)")
    parser.add_argument("--max-replays", type=int, default=3, metavar="N",
                        help="leave alone what was already replayed N times (default 3)")
    parser.add_argument("--group-id", default="membrane-replay", metavar="NAME",
                        help="consumer group that remembers what was replayed")
    parser.add_argument("--from-beginning", action="store_true",
                        help="consider the whole quarantine topic, not just what is new")
    parser.add_argument("--dry-run", action="store_true",
                        help="decide and report, but write and commit nothing")
    parser.add_argument("--log-level", choices=LEVELS, default="warning")


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    which = ReplayFilter(
        reasons=frozenset(args.reason),
        since=parse_since(args.since) if args.since else None,
        limit=args.limit,
        max_replays=args.max_replays,
        from_beginning=args.from_beginning,
    )
    holder = PolicyHolder(load_policy(*args.rules))
    kafka = holder.current.rules.kafka
    bootstrap = args.bootstrap or kafka.bootstrap
    if bootstrap is None:
        raise ConfigError("membrane replay needs --bootstrap (or kafka.bootstrap in the rules): "
                          "the broker `membrane run` printed when it started")
    engine = Engine(holder, metrics=Metrics(), transport_name="kafka")
    replayer = Replayer(engine, client_options(kafka, bootstrap), group_id=args.group_id,
                        dry_run=args.dry_run)
    summary = asyncio.run(replayer.run(which))
    prefix = "dry run: " if args.dry_run else ""
    for line in summary.lines():
        print(prefix + line)
    return 0
