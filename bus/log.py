"""Logging for membrane's long-running commands: one format, quiet client libraries.

aiokafka logs every failed connection attempt at ERROR, many times a second
while a broker is away; membrane logs the outage itself, once per retry with
its backoff, so the library's own messages are shown only at debug level.
"""

from __future__ import annotations

import logging
import sys

LEVELS = ("debug", "info", "warning", "error")
NOISY_LIBRARIES = ("aiokafka", "kafka")


def configure_logging(level: str = "info") -> None:
    numeric = getattr(logging, level.upper())
    logging.basicConfig(
        level=numeric,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    quiet = logging.DEBUG if numeric <= logging.DEBUG else logging.CRITICAL
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
