"""The gateway: a Kafka-wire-protocol proxy that applies the rules to unmodified clients.

``server.Gateway`` is the entry point (``membrane gateway`` runs it). Per
connection, ``connection`` pumps frames and keeps answers in request order;
``handlers`` decides which requests are inspected: ``metadata``, ``produce``
(with ``stamping`` and ``throttle``), ``fetch`` (with ``views``) and
``identity``; everything else passes through as raw ``frames``. Addresses are
rewritten by ``rewrite`` through ``addressing``; ``access`` holds the
topic-level topology; ``upstream`` opens (TLS, SASL) broker connections.

Importing this package is cheap: ``bus.rules`` imports ``settings`` from it.
"""
