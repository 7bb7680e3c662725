"""Secrets from the environment: read where a client is built, never shown in a log.

A rules file names environment variables (``*_env`` settings), never the
secrets themselves. ``from_env`` reads one, names the setting that needs it
when it is missing, and hands the value to ``bus.log.redact``, so no log
line shows it afterwards, whoever writes the line (a client library's debug
output of a SASL request included) and whether it is a message or a
traceback.
"""

from __future__ import annotations

import os

from bus.errors import ConfigError
from bus.log import redact


def from_env(variable: str | None, setting: str) -> str | None:
    """The value of ``variable`` (None when no variable is configured).

    ``setting`` is the path of the setting that names it, e.g.
    ``$.kafka.sasl_password_env``; a missing variable is a ``ConfigError`` there.
    """
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise ConfigError(f"environment variable {variable} ({setting.removeprefix('$.')}) "
                          "is not set", path=setting)
    redact(value)
    return value
