"""Run sizes: small enough for CI by default, the full sizes with ``MEMBRANE_LONG=1``."""

from __future__ import annotations

import os
from typing import Final

LONG_ENV: Final = "MEMBRANE_LONG"


def long_run() -> bool:
    """True when ``MEMBRANE_LONG`` is set to anything but ``""``/``0``/``false``/``no``."""
    return os.environ.get(LONG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def scaled(ci: int, long: int) -> int:
    """``long`` under ``MEMBRANE_LONG=1``, else ``ci``."""
    return long if long_run() else ci
