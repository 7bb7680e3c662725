"""``membrane top``: the group signals of a running relay, live in the terminal.

Reads the relay's Prometheus endpoint (``--url``, default
http://127.0.0.1:9464/metrics) every ``--interval`` seconds and shows, as the
Grafana dashboard does: the flow (rates computed between two scrapes), the
broker and lag, and one row per interaction group with its consensus,
conformity, oscillation, drift and cascade sensors. ``--once`` prints a
single snapshot and exits (flow rates need two scrapes and show as "-").
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bus.errors import UpstreamError

DEFAULT_URL = "http://127.0.0.1:9464/metrics"

Labels = tuple[tuple[str, str], ...]

# (column title, metric, how to format, level at which the value is highlighted)
GROUP_COLUMNS: tuple[tuple[str, str, str, float | None], ...] = (
    ("agents", "membrane_group_agents", "{:.0f}", None),
    ("msg/s", "membrane_group_messages_per_second", "{:.2f}", None),
    ("consensus", "membrane_group_consensus_ratio", "{:.2f}", 0.9),
    ("modal", "membrane_group_modal_share_ratio", "{:.2f}", 0.9),
    ("conformity", "membrane_group_conformity_ratio", "{:.2f}", 0.7),
    ("flips", "membrane_group_flips_after_exposure", "{:.0f}", None),
    ("polar.", "membrane_group_polarisation_ratio", "{:.2f}", 0.7),
    ("reverts", "membrane_group_revert_ratio", "{:.2f}", 0.5),
    ("ping-pong", "membrane_group_pingpong_ratio", "{:.2f}", 0.5),
    ("rate ac1", "membrane_group_rate_autocorrelation", "{:+.2f}", None),
    ("zero-x", "membrane_group_rate_zero_crossing_ratio", "{:.2f}", 0.8),
    ("drift", "membrane_group_drift_ratio", "{:.2f}", 0.5),
    ("hops", "membrane_group_mean_hops", "{:.1f}", None),
    ("fan-out", "membrane_group_mean_fanout", "{:.1f}", None),
)


class Scrape:
    """One scrape: sample name -> labels -> value, and when it was taken."""

    def __init__(self, text: str, at: float) -> None:
        self.at = at
        self.samples: dict[str, dict[Labels, float]] = defaultdict(dict)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value

    def total(self, name: str, **match: str) -> float | None:
        """Sum of the samples of ``name`` whose labels include ``match``."""
        found = [
            value
            for labels, value in self.samples.get(name, {}).items()
            if all((key, wanted) in labels for key, wanted in match.items())
        ]
        return sum(found) if found else None

    def by_group(self, name: str) -> dict[str, float]:
        return {
            dict(labels).get("group", ""): value
            for labels, value in self.samples.get(name, {}).items()
        }

    def label_value(self, name: str, label: str) -> str | None:
        for labels in self.samples.get(name, {}):
            return dict(labels).get(label)
        return None


def fetch(url: str, timeout: float = 5.0) -> Scrape:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
        raise UpstreamError(f"cannot read {url}: {exc}", retriable=True) from exc
    return Scrape(text, time.monotonic())


def _rate(now: Scrape, before: Scrape | None, name: str, **match: str) -> float | None:
    if before is None or now.at <= before.at:
        return None
    current, previous = now.total(name, **match), before.total(name, **match)
    if current is None or previous is None or current < previous:
        return None
    return (current - previous) / (now.at - before.at)


def _cell(value: float | None, fmt: str, alarm: float | None = None) -> Text:
    if value is None:
        return Text("-", style="dim")
    style = "bold red" if alarm is not None and value >= alarm else ""
    return Text(fmt.format(value), style=style)


def headline(now: Scrape, url: str) -> Text:
    policy = now.label_value("membrane_policy_info", "version") or "-"
    connected = now.total("membrane_broker_connected")
    broker = "-" if connected is None else ("connected" if connected else "DISCONNECTED")
    return Text(f"membrane top  {url}  policy {policy}  broker {broker}", style="bold")


def flow_table(now: Scrape, before: Scrape | None) -> Table:
    table = Table(title="flow", title_justify="left")
    rates: list[tuple[str, Callable[[], float | None], str]] = [
        ("received/s", lambda: _rate(now, before, "membrane_received_total"), "{:.1f}"),
        ("forwarded/s", lambda: _rate(now, before, "membrane_messages_total",
                                      outcome="forwarded"), "{:.1f}"),
        ("quarantined/s", lambda: _rate(now, before, "membrane_quarantined_total"), "{:.1f}"),
        ("delay queue", lambda: now.total("membrane_delay_queue_messages"), "{:.0f}"),
        ("in flight", lambda: now.total("membrane_in_flight_messages"), "{:.0f}"),
        ("consumer lag", lambda: now.total("membrane_consumer_lag_messages"), "{:.0f}"),
    ]
    for title, _, _ in rates:
        table.add_column(title, justify="right")
    table.add_row(*(_cell(read(), fmt) for _, read, fmt in rates))
    return table


WIDE_LAYOUT_COLUMNS = 150  # below this, groups become columns and sensors rows


def group_table(now: Scrape, wide: bool = True) -> Table:
    """One row per group (``wide``), or one column per group on narrow terminals."""
    table = Table(title="groups", title_justify="left")
    columns = [now.by_group(metric) for _, metric, _, _ in GROUP_COLUMNS]
    groups = sorted({group for column in columns for group in column})
    cells = {
        group: [
            _cell(column.get(group), fmt, alarm)
            for column, (_, _, fmt, alarm) in zip(columns, GROUP_COLUMNS, strict=True)
        ]
        for group in groups
    }
    if wide:
        table.add_column("group")
        for title, _, _, _ in GROUP_COLUMNS:
            table.add_column(title, justify="right")
        for group in groups:
            table.add_row(group, *cells[group])
    else:
        table.add_column("sensor")
        for group in groups:
            table.add_column(group, justify="right")
        for index, (title, _, _, _) in enumerate(GROUP_COLUMNS):
            table.add_row(title, *(cells[group][index] for group in groups))
    if not groups:
        table.caption = "no group sensors exported yet"
    return table


def render(now: Scrape, before: Scrape | None, url: str, width: int = 200) -> Group:
    wide = width >= WIDE_LAYOUT_COLUMNS
    return Group(headline(now, url), flow_table(now, before), group_table(now, wide))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help=f"metrics URL (default {DEFAULT_URL})")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between scrapes")
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")


def run(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        print("membrane top: --interval must be positive", file=sys.stderr)
        return 2
    console = Console()
    if args.once:
        console.print(render(fetch(args.url), None, args.url, console.width))
        return 0
    now = fetch(args.url)
    try:
        first = render(now, None, args.url, console.width)
        with Live(first, console=console, auto_refresh=False) as live:
            while True:
                time.sleep(args.interval)
                try:
                    before, now = now, fetch(args.url)
                except UpstreamError as exc:  # keep watching: the relay may come back
                    live.update(Group(render(now, None, args.url, console.width),
                                      Text(str(exc), "red")),
                                refresh=True)
                    continue
                live.update(render(now, before, args.url, console.width), refresh=True)
    except KeyboardInterrupt:
        return 0
