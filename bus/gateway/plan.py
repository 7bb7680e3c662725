"""What the gateway does with one request: the ``Plan`` a handler returns."""

from __future__ import annotations

from collections.abc import Callable

# Turns the upstream response body (correlation id included) into the frame
# sent to the client.
ResponseTransform = Callable[[bytes], bytes]


class Plan:
    """Forward a (possibly rewritten) request, or answer it here.

    ``forward`` is the frame to send upstream, or None to answer locally with
    ``local`` (a complete frame). ``expects_response`` is false only for
    acks=0 produce requests, which Kafka never answers. ``transform`` rewrites
    the upstream response; None passes it through byte for byte.
    ``hold_seconds`` is how long the handler held the request before
    returning (throttling); it is not counted as latency the gateway added.
    """

    __slots__ = ("expects_response", "forward", "hold_seconds", "local", "transform")

    def __init__(
        self,
        *,
        forward: bytes | None = None,
        local: bytes | None = None,
        transform: ResponseTransform | None = None,
        expects_response: bool = True,
        hold_seconds: float = 0.0,
    ) -> None:
        if (forward is None) == (local is None) and expects_response:
            raise ValueError("a plan either forwards a request or answers it locally")
        self.forward = forward
        self.local = local
        self.transform = transform
        self.expects_response = expects_response
        self.hold_seconds = hold_seconds

    @classmethod
    def passthrough(cls, frame: bytes, transform: ResponseTransform | None = None) -> Plan:
        return cls(forward=frame, transform=transform)

    @classmethod
    def answer(cls, frame: bytes) -> Plan:
        return cls(local=frame)
