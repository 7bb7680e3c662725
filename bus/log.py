"""Logging for membrane's long-running commands: one format, quiet client libraries.

aiokafka logs every failed connection attempt at ERROR, many times a second
while a broker is away; membrane logs the outage itself, once per retry with
its backoff, so the library's own messages are shown only at debug level.

Secrets read from the environment (``bus.secrets``) are registered with
``redact`` and replaced by ``***`` in every record a root handler emits:
at debug level aiokafka logs its SASL requests, PLAIN credentials included.
"""

from __future__ import annotations

import logging
import sys

LEVELS = ("debug", "info", "warning", "error")
NOISY_LIBRARIES = ("aiokafka", "kafka")


MASK = "***"

# A handful: the secret settings of one process, longest first, so a secret
# that contains another is masked whole rather than around the shorter one.
_secrets: list[str] = []


def _forms(secret: str) -> set[str]:
    """The secret as written, and as a str or bytes repr may show it (escaped, with
    either quote character escaped too)."""
    shown = {secret, repr(secret)[1:-1], repr(secret.encode())[2:-1]}
    return shown | {form.replace(q, "\\" + q) for form in shown for q in "'\""}


def _clean(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class _Redactor(logging.Filter):
    """Rewrites a record whose message or traceback contains a registered secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        message = record.getMessage()
        cleaned = _clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _clean(record.exc_text)
        if record.stack_info:
            record.stack_info = _clean(record.stack_info)
        return True


_REDACTOR = _Redactor()


def _guard_handlers() -> None:
    for handler in logging.getLogger().handlers:
        if _REDACTOR not in handler.filters:
            handler.addFilter(_REDACTOR)


def redact(secret: str) -> None:
    """Never show ``secret`` in a log line from now on (any logger, any level)."""
    if secret:
        known = set(_secrets) | {form for form in _forms(secret) if form}
        _secrets[:] = sorted(known, key=len, reverse=True)
        _guard_handlers()


def configure_logging(level: str = "info") -> None:
    numeric = getattr(logging, level.upper())
    logging.basicConfig(
        level=numeric,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    _guard_handlers()
    quiet = logging.DEBUG if numeric <= logging.DEBUG else logging.CRITICAL
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
