"""membrane: topology, damping and measurement for fleets of AI agents on a message bus."""

__version__ = "0.1.0"
