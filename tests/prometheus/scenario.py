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

HERD = [f"h{i}" for i in range(14)]
MINORITY, MAJORITY = HERD[:6], HERD[6:]
PAIR = ["p0", "p1"]

RULES = """\
version: 1
topics:
  outbox: "PREFIX.{agent}.outbox"
  inbox: "PREFIX.{agent}.inbox"
  quarantine: "PREFIX.quarantine"
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


def rules(prefix: str) -> str:
    """The scenario's rules file, its topics under ``prefix`` (unique per test run)."""
    return RULES.replace("PREFIX", prefix)



class Message:
    """One scripted message; ``to`` None means every permitted neighbour."""

    __slots__ = ("hops", "sender", "stance", "to")

    def __init__(self, sender: str, stance: str | None, to: tuple[str, ...] | None = None,
                 hops: int = 0) -> None:
        self.sender = sender
        self.stance = stance
        self.to = to
        self.hops = hops


Step = Message | float  # a float is a pause, in seconds


def warm_up() -> list[Step]:
    """One stanceless message per agent to a recipient that does not exist: creates
    the outbox topics and the groups' series before the scenario starts, so that
    Prometheus sees the scenario's counters increase from a first sample."""
    return [Message(agent, None, ("nobody",)) for agent in (*HERD, *PAIR)]


def steps() -> list[Step]:
    """The scenario, about 12 seconds of wall time."""
    script: list[Step] = [Message(agent, "2") for agent in MINORITY]
    script += [Message(agent, "6") for agent in MAJORITY]
    script.append(1.0)
    script += [Message(agent, "6") for agent in MAJORITY]
    script.append(1.0)
    for agent in MINORITY:  # each has now been shown 6 more often than 2
        script += [Message(agent, "6"), 0.3]
    for turn in range(24):
        sender, recipient = PAIR[turn % 2], PAIR[(turn + 1) % 2]
        flip = (turn // 2) % 2
        stance = ("3", "5")[flip] if sender == "p0" else ("5", "3")[flip]
        script += [Message(sender, stance, (recipient,), min(turn, 12)),
                   0.15 if turn % 4 else 0.6]  # uneven, so the rate series varies
    script.append(Message("h0", "6", ("p0",)))  # no edge from herd to pair: quarantined
    script.append(Message("h1", "9"))  # off the 1-7 scale: the stance is rejected
    script.append(1.0)
    script += [Message(agent, "6", hops=1) for agent in HERD[:4]]
    return script

