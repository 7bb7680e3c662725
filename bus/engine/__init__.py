"""The engine: policy, filter chains and held messages, independent of any transport.

``bus.engine.engine.Engine`` turns envelopes into ``Outcome``s; the relay,
the MQTT bridge and the gateway write those outcomes to their brokers.
"""
