"""The MQTT bridge: the same policy, filters, sensors and quarantine for agents that speak MQTT.

Agents publish to their outbox topic (``agents/{agent}/out``) and subscribe to
their inbox (``agents/{agent}/in``); the bridge subscribes to every outbox
with a persistent QoS 1 session, decides each message with the engine, and
publishes the outcomes to MQTT inboxes, Kafka inboxes or quarantine.
"""
