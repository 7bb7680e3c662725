"""The swarm simulator: scenario models played by real Kafka agents through membrane.

Scenario models (``collective``, ``pressure``, ``loops``) are pure and
seeded; ``harness.run_kafka`` plays one through a relay on a broker in
logical rounds, so the same seed gives the same numbers; ``runner`` repeats
runs over conditions and ``report`` turns them into tables and figures.
"""
