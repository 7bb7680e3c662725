"""The configurations compared side by side, as the child processes each one needs.

- ``direct``: no child; senders write to inboxes.
- ``noop``: ``bus.bench.noop_relay``, consume and produce, nothing decided.
- ``topology``: membrane's relay with the policy only (no filters, no sensors).
- ``full``: membrane's relay with every damping filter and the sensors.
- ``gateway``: ``membrane gateway`` in sidecar mode for agent 0, full chain.

Every membrane configuration reads a rules file written for the run's
agents (``bus.bench.rules``), so the same messages pass in every one.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Literal

from bus.bench.children import ChildSpec
from bus.bench.rules import fleet_rules, write_rules
from bus.bench.workload import Route, Workload
from bus.embedded import free_port

Kind = Literal["direct", "noop", "topology", "full", "gateway"]

TITLES: dict[Kind, str] = {
    "direct": "direct (no proxy)",
    "noop": "no-op batch relay",
    "topology": "membrane, topology only",
    "full": "membrane, full chain",
    "gateway": "membrane gateway, full chain",
}

ROUTES: dict[Kind, Route] = {
    "direct": "direct",
    "noop": "relay",
    "topology": "relay",
    "full": "relay",
    "gateway": "gateway",
}


class Launch:
    """The children of one configuration, and where its senders write."""

    __slots__ = ("sender_bootstrap", "specs")

    def __init__(self, specs: list[ChildSpec], sender_bootstrap: str | None = None) -> None:
        self.specs = specs
        self.sender_bootstrap = sender_bootstrap


def launch(kind: Kind, bootstrap: str, workload: Workload, workdir: Path,
           processes: int = 1) -> Launch:
    group = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    if kind == "direct":
        return Launch([])
    if kind == "noop":
        argv = [sys.executable, "-m", "bus.bench.noop_relay", bootstrap, group, workload.prefix]
        return Launch([ChildSpec(f"noop-{i}", argv) for i in range(processes)])
    rules = write_rules(workdir / f"{workload.prefix}-{kind}.yaml",
                        fleet_rules(workload.agent_ids, full_chain=kind != "topology"))
    if kind == "gateway":
        port, metrics_port = free_port(), free_port()
        argv = [sys.executable, "-m", "bus.cli.main", "gateway", "--rules", str(rules),
                "--upstream", bootstrap, "--listen", f"127.0.0.1:{port}",
                "--agent", workload.agent(0), "--metrics-addr", f"127.0.0.1:{metrics_port}",
                "--log-level", "WARNING"]
        spec = ChildSpec("gateway", argv, ready_port=port, metrics_port=metrics_port)
        return Launch([spec], f"127.0.0.1:{port}")
    argv = [sys.executable, "-m", "bus.bench.membrane_relay", "--rules", str(rules),
            "--bootstrap", bootstrap, "--group", group]
    if kind == "topology":
        argv.append("--no-sensors")
    specs = []
    for i in range(processes):
        port = free_port()
        specs.append(ChildSpec(f"{kind}-{i}", [*argv, "--metrics-port", str(port)],
                               metrics_port=port))
    return Launch(specs)
