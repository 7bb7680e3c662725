"""Entry point of the ``membrane`` command.

Each subcommand lives in ``bus.cli.<module>`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only
when their subcommand runs, so ``membrane check`` does not pay for Kafka or
matplotlib imports.

Exit codes: 0 success, 1 the thing checked is invalid or a run failed,
2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import bus
from bus.errors import MembraneError

COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("bus.cli.check", "validate rules files and summarise the topology"),
    "graph": ("bus.cli.graph", "print the effective topology as DOT or JSON"),
    "test": ("bus.cli.policy_test", "run policy test cases against a rules file"),
    "run": ("bus.cli.run", "run the relay (embedded broker unless --bootstrap)"),
    "replay": ("bus.cli.replay", "re-inject quarantined messages through the policy"),
    "acls": ("bus.cli.acls", "generate Kafka and Mosquitto ACLs that close the bypass"),
    "top": ("bus.cli.top", "live terminal view of the group signals"),
    "sim": ("bus.cli.sim", "run a swarm scenario through membrane and report figures"),
    "demo": ("bus.cli.demo", "a short showcase on the embedded broker"),
    "bench": ("bus.cli.bench", "benchmark membrane against direct and no-op baselines"),
    "gateway": ("bus.cli.gateway", "run the Kafka-protocol gateway sidecar"),
}


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(prog="membrane", description=bus.__doc__)
    parser.add_argument("--version", action="version", version=f"membrane {bus.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parsers = {name: sub.add_parser(name, help=text) for name, (_, text) in COMMANDS.items()}
    return parser, parsers


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, parsers = _parser()
    command = next((a for a in args_list if not a.startswith("-")), None)
    if command not in COMMANDS:
        if command is None and not args_list:
            parser.print_help()
            return 2
        parser.parse_args(args_list)  # prints usage or --version and exits
        return 2
    module_name, _ = COMMANDS[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"membrane: '{command}' is not available in this build", file=sys.stderr)
        return 2
    module.add_arguments(parsers[command])
    args = parser.parse_args(args_list)
    try:
        return int(module.run(args))
    except MembraneError as exc:
        print(f"membrane {command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
