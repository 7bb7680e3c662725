"""Hot reload of the rules: on SIGHUP, or when a rules file changes on disk.

The files are polled (every ``interval`` seconds): a cheap ``stat`` first,
and only when size or modification time moved, a SHA-256 of the contents,
so touching a file or rewriting it unchanged does not recompile anything.
Config maps in Kubernetes swap a symlink rather than edit the file; ``stat``
follows it, so that is seen too. A file that fails to load or validate
leaves the old policy in force; the reason is logged and counted
(``membrane_policy_reloads_total{result="failure"}``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bus.engine.tasks import BackgroundTask
from bus.metrics import Metrics

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[int, int] | None, ...]


class ReloadOutcome(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def version(self) -> str: ...

    @property
    def error(self) -> str | None: ...


class Reloadable(Protocol):
    def reload(self, *paths: str | Path) -> ReloadOutcome: ...


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _digest(paths: Sequence[Path]) -> str:
    sha = hashlib.sha256()
    for path in paths:
        try:
            sha.update(path.read_bytes())
        except OSError as exc:
            sha.update(f"unreadable: {exc}".encode())
        sha.update(b"\0")
    return sha.hexdigest()


class RulesReloader:
    """Watches rules files and reloads the holder when they change."""

    def __init__(
        self,
        holder: Reloadable,
        paths: Sequence[str | Path],
        metrics: Metrics,
        *,
        interval: float = 1.0,
    ) -> None:
        self._holder = holder
        self._paths = [Path(p) for p in paths]
        self._interval = interval
        self._success = metrics.policy_reloads.labels("success")
        self._failure = metrics.policy_reloads.labels("failure")
        self._stats: Fingerprint = self._fingerprint()
        self._digest = _digest(self._paths)
        self._task = BackgroundTask(self._poll, "membrane-rules-watch")

    def _fingerprint(self) -> Fingerprint:
        return tuple(_stat(p) for p in self._paths)

    def reload(self, why: str = "requested") -> bool:
        """Reload now; True if the new rules are in force."""
        self._stats = self._fingerprint()
        self._digest = _digest(self._paths)
        result = self._holder.reload(*self._paths)
        if result.ok:
            self._success.inc()
            log.info("rules reloaded (%s): policy %s in force", why, result.version)
        else:
            self._failure.inc()
            log.error("rules reload (%s) failed; policy %s stays in force: %s", why,
                      result.version, result.error)
        return result.ok

    def check(self) -> bool | None:
        """Reload if the files changed since last seen; None when they did not."""
        stats = self._fingerprint()
        if stats == self._stats:
            return None
        self._stats = stats
        digest = _digest(self._paths)
        if digest == self._digest:
            return None
        return self.reload("file changed")

    async def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.check()
            except Exception:  # a watcher bug must not take the relay down
                log.exception("checking the rules files failed")
