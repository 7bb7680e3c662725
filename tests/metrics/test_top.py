"""membrane top: reads a real /metrics endpoint and shows the group signals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import start_http_server
from rich.console import Console

from bus.cli.main import main
from bus.cli.top import Scrape, render
from bus.clock import FakeClock
from bus.embedded import free_port
from bus.envelope import Envelope
from bus.metrics import Metrics
from bus.sensors import SensorHub


@pytest.fixture
def metrics_url() -> Iterator[str]:
    """A metrics endpoint with two groups: a herd that gave in, a quiet pair."""
    clock = FakeClock(50.0)
    hub = SensorHub(clock=clock)
    metrics = Metrics()
    hub.register(metrics)
    metrics.policy_version.info({"version": "c0ffee12"})
    metrics.broker_up.labels("kafka").set(1)
    metrics.consumer_lag.labels("kafka").set(42)
    for sender, stance, to in [("a", "A", ()), ("b", "B", ("a",)), ("c", "B", ("a",)),
                               ("a", "B", ())]:
        env = Envelope(sender=sender, payload=None, stance=stance)
        hub.observe_sent(env, "herd", clock.now())
        for recipient in to:
            hub.observe_delivered(env, recipient, "herd", clock.now())
    hub.observe_sent(Envelope(sender="x", payload=None, stance="yes"), "pair", clock.now())
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_once_prints_every_group_with_its_sensors(
    metrics_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    assert main(["top", "--once", "--url", metrics_url]) == 0
    out = capsys.readouterr().out
    assert "policy c0ffee12" in out and "broker connected" in out
    lines = table_rows(out)
    flow = dict(zip(lines[0], lines[1], strict=True))
    assert (flow["consumer lag"], flow["received/s"]) == ("42", "-")  # one scrape: no rate
    rows = {cells[0]: cells[1:] for cells in lines[2:]}
    header = rows["group"]
    herd = dict(zip(header, rows["herd"], strict=True))
    pair = dict(zip(header, rows["pair"], strict=True))
    assert (herd["agents"], herd["conformity"], herd["flips"]) == ("3", "1.00", "1")
    assert herd["modal"] == "1.00"  # a, b and c all hold B now
    assert (pair["agents"], pair["conformity"]) == ("1", "-")  # no change: undefined


def table_rows(out: str) -> list[list[str]]:
    """Cells of every table line drawn with box characters."""
    return [
        [cell.strip() for cell in line.strip("│┃ ").split("│" if "│" in line else "┃")]
        for line in out.splitlines()
        if line.startswith(("│", "┃"))
    ]


def test_flow_rates_come_from_two_scrapes() -> None:
    before = Scrape('membrane_received_total{transport="kafka"} 100\n'
                    'membrane_messages_total{transport="kafka",outcome="forwarded"} 10\n', 10.0)
    now = Scrape('membrane_received_total{transport="kafka"} 300\n'
                 'membrane_messages_total{transport="kafka",outcome="forwarded"} 50\n', 14.0)
    console = Console(record=True, width=200)
    console.print(render(now, before, "http://relay/metrics"))
    text = console.export_text()
    assert "50.0" in text  # received: 200 over 4 s
    assert "10.0" in text  # forwarded: 40 over 4 s
    assert "no group sensors exported yet" in text


def test_a_narrow_terminal_shows_groups_as_columns(
    metrics_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["top", "--once", "--url", metrics_url]) == 0
    rows = {cells[0]: cells[1:] for cells in table_rows(capsys.readouterr().out)[2:]}
    assert rows["sensor"] == ["herd", "pair"]
    assert rows["conformity"] == ["1.00", "-"]
    assert rows["agents"] == ["3", "1"]


def test_an_unreachable_relay_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    assert main(["top", "--once", "--url", url]) == 1
    assert f"cannot read {url}" in capsys.readouterr().err


def test_a_non_positive_interval_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "--interval", "0"]) == 2
    assert "--interval must be positive" in capsys.readouterr().err
