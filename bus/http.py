"""A small asyncio HTTP server for ``/metrics``, ``/healthz`` and ``/readyz``.

Just enough HTTP/1.1 for Prometheus and Kubernetes probes: one GET per
connection, bounded request size, a read timeout, ``Connection: close``.
``/metrics`` renders the ``Metrics`` registry in the Prometheus text format;
``/healthz`` answers 200 while the process works (``healthy()`` true) and
``/readyz`` 200 while it can do its job (``ready()`` true, e.g. connected
to the broker), 503 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bus.errors import ConfigError
from bus.lifecycle import AsyncLifecycle
from bus.metrics import Metrics

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024
READ_TIMEOUT = 5.0
Check = Callable[[], bool]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) → (host, port); ``ConfigError`` if malformed."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"address {text!r} must be HOST:PORT")
    return host, int(port)


class MetricsServer(AsyncLifecycle):
    """Serves the metrics and the probes; ``port`` is known after ``start``."""

    def __init__(
        self,
        metrics: Metrics,
        host: str = "127.0.0.1",
        port: int = 9464,
        *,
        healthy: Check = lambda: True,
        ready: Check = lambda: True,
    ) -> None:
        self._metrics = metrics
        self.host = host
        self.port = port
        self._healthy = healthy
        self._ready = ready
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                      limit=MAX_REQUEST_BYTES)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from exc
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request."""
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        path = path.split("?", 1)[0]
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._metrics.registry)
        if path == "/healthz":
            return (200, "text/plain", b"ok\n") if self._healthy() else (
                503, "text/plain", b"unhealthy\n")
        if path == "/readyz":
            return (200, "text/plain", b"ready\n") if self._ready() else (
                503, "text/plain", b"not ready\n")
        return 404, "text/plain", b"not found: try /metrics, /healthz or /readyz\n"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            if len(parts) != 3:
                status, ctype, body = 400, "text/plain", b"bad request\n"
            else:
                status, ctype, body = self.respond(parts[0], parts[1])
                if parts[0] == "HEAD":
                    body = b""
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found",
                      405: "Method Not Allowed", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError) as exc:
            log.debug("metrics request dropped: %r", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
