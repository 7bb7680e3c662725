"""The error hierarchy: one root, a few categories callers can act on.

Third-party exceptions (aiokafka, aiomqtt, msgspec, yaml) are translated into
these at the layer that calls the library, so no other layer needs to know
which client library is underneath.
"""

from __future__ import annotations


class MembraneError(Exception):
    """Root of every error membrane raises on purpose."""


class ConfigError(MembraneError):
    """A rules file or command-line setting is invalid.

    ``path`` is a JSON-path-like location (``$.edges[3].to``); ``line`` and
    ``column`` are 1-based positions in the source file when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.source = source
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column else ""))
        if self.path:
            where.append(f"at {self.path}")
        prefix = ": ".join([", ".join(where)]) if where else ""
        return f"{prefix}: {self.message}" if prefix else self.message


class ProtocolError(MembraneError):
    """A message or frame that cannot be understood.

    ``reason`` is a short machine-readable slug (bounded set, usable as a
    metric label); the message text explains it to a person.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class UpstreamError(MembraneError):
    """The broker (Kafka or MQTT) failed; ``retriable`` says whether to try again."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        self.retriable = retriable
        super().__init__(message)
