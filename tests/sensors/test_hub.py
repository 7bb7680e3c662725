"""SensorHub end to end with a fake clock: every sensor against hand-computed values."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from bus.envelope import Envelope
from bus.sensors import SENSOR_NAMES, SensorHub, SensorsConfig
from bus.sensors.stance import Rejected, Stance, StanceReader

from .conftest import Chat

MakeChat = Callable[..., Chat]


class CountingReader(StanceReader):
    __slots__ = ("reads",)

    def __init__(self, config: SensorsConfig) -> None:
        super().__init__(config)
        self.reads = 0

    def read(self, env: Envelope) -> Stance | Rejected | None:
        self.reads += 1
        return super().read(env)


def herd(chat: Chat) -> None:
    """a holds A, b c d hold B; a is shown B three times and gives in (conforming);
    d is shown A once and C twice and moves to A (a flip, not to the majority
    shown); c moves to C unprompted, then back to B (a revert)."""
    chat.send("a", "A")
    chat.send("b", "B", to=["a"])
    chat.send("c", "B", to=["a"])
    chat.send("d", "B", to=["a"])
    chat.wait(1)
    chat.send("a", "B")
    chat.send("x", "A", to=["d"], group="elsewhere")
    chat.send("b", "C", to=["d"])
    chat.send("b", "C", to=["d"])
    chat.send("a", "A", to=["d"])
    chat.send("d", "A")
    chat.send("c", "C")
    chat.send("c", "B")
    chat.send("a", "B")
    chat.send("b", "B")


def test_conformity_flips_and_reverts(make_chat: MakeChat) -> None:
    chat = make_chat()
    herd(chat)
    # Eight changes: a A->B (conforming, a flip), b B->C, a B->A (revert), d B->A (a flip,
    # not to the majority C it was shown), c B->C, c C->B (revert), a A->B (revert),
    # b C->B (revert). Only a's first and d's change follow deliveries to them.
    assert chat.value("conformity_rate") == pytest.approx(1 / 8)
    assert chat.value("flips_after_exposure") == 2.0
    assert chat.value("revert_rate") == pytest.approx(4 / 8)


def test_consensus_and_drift_over_latest_stances(make_chat: MakeChat) -> None:
    chat = make_chat()
    herd(chat)
    # Latest: a B, b B, c B, d A -> 3:1
    assert chat.value("modal_share") == 0.75
    assert chat.value("consensus") == pytest.approx(0.18872, abs=1e-5)
    assert chat.hub.majority_stance("g") == "B"
    # First stances a A, b B, c B, d B: a and d have drifted, b and c are back.
    assert chat.value("drift") == 0.5


def test_windowed_sensors_forget_and_counters_do_not(make_chat: MakeChat) -> None:
    chat = make_chat(window_seconds=10.0)
    herd(chat)
    chat.wait(11)
    assert math.isnan(chat.value("conformity_rate"))  # no changes in the window
    assert chat.value("flips_after_exposure") == 0.0
    assert chat.value("modal_share") == 0.75  # latest stances do not expire
    assert chat.hub.value("g", "conformity_rate", default=-1.0) == -1.0


def test_a_flip_to_the_majority_shown_requires_a_strict_majority(make_chat: MakeChat) -> None:
    chat = make_chat()
    chat.send("a", "A")
    chat.send("b", "B", to=["a"])
    chat.send("c", "C", to=["a"])
    chat.send("a", "B")  # shown B once and C once: no majority, but a flip after exposure
    assert chat.value("conformity_rate") == 0.0
    assert chat.value("flips_after_exposure") == 1.0


def test_exposure_only_to_the_held_stance_is_not_a_flip(make_chat: MakeChat) -> None:
    chat = make_chat()
    chat.send("a", "A")
    chat.send("b", "A", to=["a"])
    chat.send("a", "C")
    assert chat.value("flips_after_exposure") == 0.0
    assert chat.value("conformity_rate") == 0.0


def test_exposure_resets_at_each_statement(make_chat: MakeChat) -> None:
    chat = make_chat()
    chat.send("a", "A")
    chat.send("b", "B", to=["a"])
    chat.send("a", "A")  # a restates A after seeing B: the exposure is used up
    chat.send("a", "B")  # a change with nothing shown since
    assert chat.value("conformity_rate") == 0.0
    assert chat.value("flips_after_exposure") == 0.0


def test_pingpong_counts_deliveries_in_long_alternating_runs(make_chat: MakeChat) -> None:
    chat = make_chat(pingpong_min_run=4, window_seconds=10.0)
    for sender, recipient in [("x", "y"), ("y", "x"), ("x", "y"), ("y", "x"), ("x", "y")]:
        chat.send(sender, to=[recipient])
    # Runs 1, 2, 3, 4, 5: the 4th and 5th deliveries are ping-pong.
    assert chat.value("pingpong_rate") == pytest.approx(2 / 5)
    chat.send("x", to=["y"])  # same direction twice: the run starts again
    assert chat.value("pingpong_rate") == pytest.approx(2 / 6)
    chat.wait(11)
    chat.send("y", to=["x"])  # alternates, but after a gap longer than the window
    assert chat.value("pingpong_rate") == 0.0


def test_channel_deliveries_are_counted_but_expose_no_one(make_chat: MakeChat) -> None:
    chat = make_chat()
    chat.send("a", "A")
    chat.send("b", "B", to=["#room"])
    chat.send("a", "B")
    assert chat.value("flips_after_exposure") == 0.0
    assert chat.value("mean_fanout") == pytest.approx(1 / 3)
    assert math.isnan(chat.value("pingpong_rate"))  # no direct deliveries at all


def test_message_rate_and_oscillation_of_the_rate_series(make_chat: MakeChat) -> None:
    chat = make_chat(window_seconds=6.0, interval_seconds=1.0)
    chat.wait(1.0 - chat.clock.now() % 1.0)  # start at an interval boundary
    for count in [2, 0, 2, 0, 2, 0]:
        for _ in range(count):
            chat.send("a")
        chat.wait(1.0)
    assert chat.value("message_rate") == 1.0
    assert chat.value("rate_autocorrelation") == pytest.approx(-5 / 6)
    assert chat.value("rate_zero_crossing") == 1.0


def test_a_silent_group_shows_a_zero_rate_after_the_window(make_chat: MakeChat) -> None:
    chat = make_chat(window_seconds=6.0)
    chat.send("a")
    chat.wait(100)
    assert chat.value("message_rate") == 0.0
    assert math.isnan(chat.value("rate_autocorrelation"))  # constant series


def test_hops_and_fanout(make_chat: MakeChat) -> None:
    chat = make_chat(fanout_settle_seconds=2.0)
    chat.send("a", to=["b", "c", "d"], hops=0)
    chat.send("b", to=[], hops=2)
    chat.send("c", to=["a"], hops=4)
    assert chat.value("mean_hops") == 2.0
    assert chat.value("mean_fanout") == pytest.approx(4 / 3)
    group = dict(chat.hub.current_groups())["g"]
    assert group.fanout.histogram.count == 0  # not settled yet
    chat.wait(3)
    dict(chat.hub.current_groups())
    histogram = dict(group.fanout.histogram.cumulative())
    assert (histogram["0.0"], histogram["1.0"], histogram["3.0"]) == (1, 2, 3)
    assert group.fanout.histogram.total == 4
    hops = dict(group.hops.cumulative())
    assert (hops["0.0"], hops["2.0"], hops["4.0"], hops["+Inf"]) == (1, 2, 3, 3)


def test_numeric_stances_polarise_and_drift(make_chat: MakeChat) -> None:
    chat = make_chat(stance_type="numeric", stance_min=1.0, stance_max=7.0)
    for agent, stance in [("a", "1"), ("b", "1"), ("c", "4"), ("d", "4")]:
        chat.send(agent, stance)
    chat.send("c", "7")
    chat.send("d", "7")
    assert chat.value("polarisation") == pytest.approx(1.0)  # 1,1,7,7
    chat.send("b", "2")
    # drift: a 0, b 1/6, c 3/6, d 3/6 -> mean 7/24
    assert chat.value("drift") == pytest.approx(7 / 24)
    assert chat.value("consensus") == pytest.approx(
        1 - (-(0.25 * math.log(0.25) * 2 + 0.5 * math.log(0.5))) / math.log(7)
    )


def test_rejected_stances_are_counted_by_reason(make_chat: MakeChat) -> None:
    chat = make_chat(stance_type="numeric", stance_min=1.0, stance_max=7.0, max_stances=7)
    chat.send("a", "9")
    chat.send("a", "maybe")
    group = dict(chat.hub.current_groups())["g"]
    assert group.rejected["out-of-range"] == 1
    assert group.rejected["not-a-number"] == 1
    assert chat.hub.majority_stance("g") is None


def test_labels_beyond_max_stances_are_refused(make_chat: MakeChat) -> None:
    chat = make_chat(max_stances=2)
    chat.send("a", "A")
    chat.send("b", "B")
    chat.send("c", "C")
    group = dict(chat.hub.current_groups())["g"]
    assert group.rejected["too-many-labels"] == 1
    assert group.tally.counts == {"A": 1, "B": 1}


def test_the_payload_is_parsed_once_per_message_not_per_recipient(make_chat: MakeChat) -> None:
    chat = make_chat(stance_pointer="/stance")
    reader = CountingReader(chat.hub.config)
    chat.hub._reader = reader
    chat.send("b", None, to=["a", "c", "d"], payload=b'{"stance": "B"}')
    assert reader.reads == 1
    assert chat.hub.majority_stance("g") == "B"


def test_groups_beyond_the_cap_share_the_overflow_group(make_chat: MakeChat) -> None:
    chat = make_chat(max_groups=2)
    for group in ("g1", "g2", "g3", "g4"):
        chat.send("a", "A", group=group)
    assert set(chat.hub.snapshot()) == {"g1", "g2", "other"}
    assert chat.hub.value("other", "modal_share") == 1.0


def test_unknown_groups_read_the_default_and_unknown_sensors_raise() -> None:
    hub = SensorHub()
    assert hub.value("nobody", "consensus", default=0.5) == 0.5
    assert hub.majority_stance("nobody") is None
    with pytest.raises(KeyError, match="unknown sensor 'oscillation'"):
        hub.value("g", "oscillation")


def test_the_snapshot_lists_only_defined_sensors(make_chat: MakeChat) -> None:
    chat = make_chat()
    chat.send("a", "A", to=["b"])
    values = chat.hub.snapshot()["g"]
    assert set(values) <= set(SENSOR_NAMES)
    assert values["consensus"] == 1.0
    assert "conformity_rate" not in values  # no stance change yet
    assert "polarisation" not in values  # categorical stances


def test_idle_agents_are_evicted_and_leave_the_tally(make_chat: MakeChat) -> None:
    chat = make_chat(idle_seconds=30.0)
    chat.send("a", "A")
    chat.send("b", "B")
    chat.wait(20)
    chat.send("b", "B")
    chat.wait(20)  # a idle 40 s, b 20 s
    chat.send("c", "C")
    group = dict(chat.hub.current_groups())["g"]
    assert "a" not in group.agents and "b" in group.agents
    assert group.tally.counts == {"B": 1, "C": 1}
    assert group.agents.evicted == 1


def test_the_least_recently_active_agent_goes_when_the_table_is_full(
    make_chat: MakeChat,
) -> None:
    chat = make_chat(max_agents_per_group=3)
    for agent, stance in [("a", "A"), ("b", "B"), ("c", "B")]:
        chat.send(agent, stance)
    chat.send("a", "A")  # a is active again: b is now the oldest
    chat.send("d", "D")
    group = dict(chat.hub.current_groups())["g"]
    assert sorted(agent for agent, _ in group.agents.items()) == ["a", "c", "d"]
    assert group.tally.counts == {"A": 1, "B": 1, "D": 1}


def test_a_default_hub_accepts_the_config_of_a_rules_file() -> None:
    hub = SensorHub(SensorsConfig(window_seconds=30.0))
    assert hub.config.intervals == 30


def test_an_agent_that_never_speaks_keeps_a_bounded_exposure(make_chat: MakeChat) -> None:
    chat = make_chat(max_stances=4)
    for i in range(50):
        chat.send(f"s{i}", f"label-{i}", to=["listener"])
        chat.send(f"s{i}", "A")  # every sender moves on: labels are freed for others
    group = dict(chat.hub.current_groups())["g"]
    listener = dict(group.agents.items())["listener"]
    assert listener.exposure is not None and len(listener.exposure) == 4
