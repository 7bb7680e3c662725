"""Every listening endpoint binds to the loopback interface unless told otherwise.

The metrics and health endpoints (``membrane run``, ``membrane gateway``),
the gateway's client listener and the embedded broker default to
127.0.0.1: exposing them is a decision the operator makes with a flag.
"""

from __future__ import annotations

import argparse
import importlib
import socket
from collections.abc import Iterator

import pytest

from bus.cli.main import COMMANDS
from bus.embedded import EmbeddedBroker
from bus.http import MetricsServer, parse_address
from bus.metrics import Metrics

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ADDRESS_WORDS = ("addr", "listen", "bind")


def address_options() -> Iterator[tuple[str, str, str]]:
    """(command, option, default) of every option that names an address to listen on."""
    for command, (module_name, _) in sorted(COMMANDS.items()):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        for action in parser._actions:
            if any(word in action.dest for word in ADDRESS_WORDS):
                yield command, action.option_strings[0], str(action.default)


def test_the_commands_that_listen_are_found() -> None:
    found = {(command, option) for command, option, _ in address_options()}
    assert {("run", "--metrics-addr"), ("gateway", "--metrics-addr"),
            ("gateway", "--listen")} <= found


@pytest.mark.parametrize(("command", "option", "default"), list(address_options()))
def test_every_listening_option_defaults_to_loopback(command: str, option: str,
                                                     default: str) -> None:
    host, _ = parse_address(default)
    assert host in LOOPBACK, f"membrane {command} {option} defaults to {default}"


def outside_address() -> str | None:
    """This machine's address on its default route, if it has one that is not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent for UDP connect
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


async def test_the_metrics_endpoint_listens_on_loopback_only() -> None:
    host, _ = parse_address(next(d for c, o, d in address_options()
                                 if (c, o) == ("run", "--metrics-addr")))
    server = MetricsServer(Metrics(), host, 0)
    assert MetricsServer(Metrics()).host == "127.0.0.1"
    await server.start()
    try:
        assert server._server is not None
        bound = {sock.getsockname()[0] for sock in server._server.sockets}
        assert bound == {"127.0.0.1"}
        outside = outside_address()
        if outside is not None:
            with pytest.raises(OSError), socket.create_connection((outside, server.port), 2):
                pass
        with socket.create_connection(("127.0.0.1", server.port), 2):
            pass
    finally:
        await server.stop()


def test_the_embedded_broker_listens_on_loopback() -> None:
    broker = EmbeddedBroker()
    assert broker.host == "127.0.0.1" and broker.bootstrap.startswith("127.0.0.1:")
