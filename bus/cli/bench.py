"""``membrane bench``: membrane side by side with direct traffic and a no-op relay.

Runs, against one broker (an embedded one unless ``--bootstrap``) and with
the same messages: direct, the no-op batch relay, membrane with the topology
only, membrane with the full chain, and the gateway; then the message-size
curve, one against two relay processes, and the in-process scale curves.
Writes ``results.md``, ``results.json`` and ``results.png`` to ``--out``.
``--quick`` runs every configuration with small counts (a smoke test: its
figures are not meant to be quoted). docs/benchmark.md explains each figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bus.bench.plan import FULL, QUICK
from bus.bench.suite import run as run_suite
from bus.errors import ConfigError
from bus.http import parse_address


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="small counts: every configuration in about a minute")
    parser.add_argument("--bootstrap", metavar="HOST:PORT",
                        help="Kafka bootstrap servers (default: an embedded broker)")
    parser.add_argument("--out", default="bench-results", metavar="DIR",
                        help="folder for results.md, results.json, results.png "
                             "(default: ./bench-results)")


def run(args: argparse.Namespace) -> int:
    if args.bootstrap is not None:
        for address in args.bootstrap.split(","):
            parse_address(address)  # raises ConfigError with the address
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    md = run_suite(QUICK if args.quick else FULL, out, args.bootstrap, progress)
    print(md.read_text(), end="")
    print(f"\nwritten: {md}, {md.with_suffix('.json')}, {md.with_suffix('.png')}")
    return 0
