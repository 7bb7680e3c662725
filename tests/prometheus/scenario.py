"""The scripted scenario the live Prometheus test watches: a herd forms, a pair ping-pongs.

Group ``herd``: 14 agents answer on a 1-7 scale; 6 start at 2, 8 at 6, all
broadcast to the group; then the 6 give in one after the other, each having
been shown 6 more often than 2 (conforming flips after exposure). Group
``pair``: two agents bounce messages and flip their answers back and forth
(ping-pong, A->B->A reverts, growing hop counts). A few messages break the
rules (a denied edge, an out-of-range stance) so quarantine and rejection
series carry data too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

HERD = [f"h{i}" for i in range(14)]
MINORITY, MAJORITY = HERD[:6], HERD[6:]
PAIR = ["p0", "p1"]

RULES = """\
version: 1
groups:
  herd: {members: [HERD_MEMBERS]}
  pair: {members: [p0, p1]}
edges:
  - {name: herd-talks, from: herd, to: herd}
  - {name: pair-talks, from: pair, to: pair}
sensors:
  stance_type: numeric
  stance_min: 1
  stance_max: 7
  fanout_settle_seconds: 1
  per_agent: {enabled: true, top: 5}
filters:
  - filter: pingpong
    threshold: 4
    base_delay: 0.05
    max_delay: 0.4
    seed: 7
    attach: {groups: [pair]}
  - filter: homeostat
    sensor: message_rate
    setpoint: 40
    max_rate: 200
    attach: {groups: [herd]}
""".replace("HERD_MEMBERS", ", ".join(HERD))

# send(sender, stance, recipients or None for "every permitted neighbour", hops)
Send = Callable[[str, str | None, tuple[str, ...] | None, int], None]


def play(send: Send, pause: Callable[[float], None] = time.sleep) -> None:
    """Run the scenario in about 12 seconds of wall time."""
    for agent in MINORITY:
        send(agent, "2", None, 0)
    for agent in MAJORITY:
        send(agent, "6", None, 0)
    pause(1.0)
    for agent in MAJORITY:
        send(agent, "6", None, 0)
    pause(1.0)
    for agent in MINORITY:  # each has now been shown 6 more often than 2
        send(agent, "6", None, 0)
        pause(0.3)
    for turn in range(24):
        sender, recipient = PAIR[turn % 2], PAIR[(turn + 1) % 2]
        stance = ("3", "5")[(turn // 2) % 2] if sender == "p0" else ("5", "3")[(turn // 2) % 2]
        send(sender, stance, (recipient,), min(turn, 12))
        pause(0.15 if turn % 4 else 0.6)  # uneven, so the rate series varies
    send("h0", "6", ("p0",), 0)  # no edge from herd to pair: quarantined
    send("h1", "9", None, 0)  # off the 1-7 scale: the stance is rejected
    pause(1.0)
    for agent in HERD[:4]:
        send(agent, "6", None, 1)
