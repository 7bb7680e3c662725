"""Run the image's command the way a container runtime would, without one.

No Docker engine runs here, so the process gets what ``docker run
--read-only --tmpfs /tmp --cap-drop ALL --network <own>`` and a Kubernetes
ConfigMap volume would give it, built from Linux namespaces (needs root):

- its own network namespace with only loopback, so it binds the image's own
  port (9464) whatever else runs on the machine, and health checks run
  inside that namespace as ``docker exec`` runs them;
- its own mount namespace in which the root filesystem is read-only, /tmp is
  an empty tmpfs, and the rules directory is mounted read-only at the
  image's rules path, in the layout the kubelet gives a ConfigMap volume
  (files are symlinks through ``..data`` to a timestamped directory, and an
  update swaps ``..data`` atomically);
- no capabilities, no new privileges, the image's environment (plus what a
  pod spec adds to it), and the image's user when the interpreter is
  readable by it (this machine's Python may live under a root-only home,
  then the process stays uid 0 without any capability).

The image installs the package at /opt/membrane; here PATH points at this
interpreter's environment instead. Everything else is the image's own.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import TracebackType

from deploy_image import Image

IMAGE_PREFIX = "/opt/membrane"
REPO_ROOT = str(Path(__file__).resolve().parents[2])


def _under_tmp(*paths: str) -> list[str]:
    """The outermost of ``paths`` that live below /tmp, each once."""
    resolved = {Path(p).resolve() for p in paths}
    inside = sorted(str(p) for p in resolved if p.is_relative_to("/tmp"))
    return [p for p in inside if not any(p != o and Path(p).is_relative_to(o) for o in inside)]
BASE_IMAGE_ENV = {"LANG": "C.UTF-8"}


def sandbox_available() -> bool:
    """Whether this machine lets us build the namespaces (root, unshare, nsenter, ip)."""
    if os.geteuid() != 0 or not all(
        shutil.which(t) for t in ("unshare", "nsenter", "ip", "setpriv")
    ):
        return False
    probe = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


def write_config_map(volume: Path, files: dict[str, str]) -> None:
    """Write ``files`` into ``volume`` as the kubelet updates a ConfigMap volume."""
    volume.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("..%Y_%m_%d_%H_%M_%S.%f")
    payload = volume / stamp
    payload.mkdir()
    for name, text in files.items():
        (payload / name).write_text(text)
    data = volume / "..data"
    previous = data.resolve() if data.is_symlink() else None
    staging = volume / "..data_tmp"
    staging.symlink_to(stamp)
    staging.rename(data)  # atomic: readers see the old set or the new one
    for name in files:
        link = volume / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    if previous is not None:
        shutil.rmtree(previous)


class ContainerSandbox:
    """The image's command running in a container-like sandbox (see module doc)."""

    def __init__(
        self,
        image: Image,
        argv: list[str],
        rules_volume: Path,
        scratch: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.image = image
        self.argv = argv
        self.extra_env = env or {}
        self.rules_volume = rules_volume
        self.scratch = scratch
        self.process: subprocess.Popen[bytes] | None = None
        self.log = scratch / "container.log"

    def environment(self) -> dict[str, str]:
        env = dict(BASE_IMAGE_ENV)
        for name, value in self.image.env.items():
            value = value.replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
            env[name] = value.replace(IMAGE_PREFIX, sys.prefix)
        return env | self.extra_env

    def _privileges(self) -> list[str]:
        """setpriv arguments: no capabilities, and the image's user if it can run Python."""
        drop = ["setpriv", "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]
        uid, _, gid = (self.image.user or "0:0").partition(":")
        as_user = [*drop, f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups"]
        # Probed through env, as the command runs: a process of that user
        # must be able to start this interpreter itself.
        probe = subprocess.run(
            [*as_user, "env", "-i", sys.executable, "-c", "import bus"],
            capture_output=True,
            timeout=30,
        )
        return as_user if probe.returncode == 0 else drop

    def _script(self) -> str:
        rules_dir = str(PurePosixPath(self.image.rules_path).parent)
        upper, work = self.scratch / "etc-upper", self.scratch / "etc-work"
        upper.mkdir()
        work.mkdir()
        workdir = self.image.final.last("WORKDIR")
        cwd = workdir.value[0] if workdir else "/"
        setpriv = self._privileges()
        env = ["env", "-i", *(f"{k}={v}" for k, v in self.environment().items())]
        q = shlex.quote
        kept = list(enumerate(_under_tmp(sys.prefix, REPO_ROOT), start=3))
        return "\n".join(
            [
                "set -e",
                "mount --make-rprivate /",
                "ip link set lo up",
                # An overlay lets the mount point for the rules exist without
                # touching the host's /etc.
                f"mount -t overlay overlay -o lowerdir=/etc,upperdir={q(str(upper))},"
                f"workdir={q(str(work))} /etc",
                f"mkdir -p {q(rules_dir)}",
                f"mount --bind {q(str(self.rules_volume))} {q(rules_dir)}",
                f"mount -o remount,bind,ro {q(rules_dir)}",
                "mount -o remount,ro /etc",
                # Every other mount read-only too, wherever this machine keeps
                # its files (/proc, /sys and /dev stay as a runtime gives them).
                "for m in $(awk '{print $5}' /proc/self/mountinfo); do case $m in "
                "/proc*|/sys*|/dev*) ;; *) mount -o remount,bind,ro $m 2>/dev/null || true ;; "
                "esac; done",
                *(f"exec {fd}< {q(path)}" for fd, path in kept),
                "mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp",
                # The interpreter and the checkout stay reachable when this
                # machine keeps them under /tmp (a CI clone may): the tmpfs
                # would hide them, so they are bound back from open handles.
                *(
                    f"mkdir -p {q(path)} && "
                    f"mount --no-canonicalize --bind /proc/self/fd/{fd} {q(path)} && "
                    f"mount -o remount,bind,ro {q(path)}"
                    for fd, path in kept
                ),
                f"cd {q(cwd)}",
                "exec " + " ".join(q(word) for word in [*setpriv, *env, *self.argv]),
            ]
        )

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--net", "sh", "-c", self._script()],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own process group, so that close() also ends whatever
                # the command started (membrane's embedded broker).
                start_new_session=True,
            )

    def exec(
        self, argv: list[str], timeout: float = 10.0, *, mounts: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the sandbox's network (and its filesystem view,
        with ``mounts``), as ``docker exec`` would."""
        assert self.process is not None
        namespaces = [f"--net=/proc/{self.process.pid}/ns/net"]
        if mounts:
            namespaces.append(f"--mount=/proc/{self.process.pid}/ns/mnt")
        return subprocess.run(
            ["nsenter", *namespaces, "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PATH": self.environment()["PATH"]},
        )

    def healthcheck(self) -> bool:
        """One run of the image's HEALTHCHECK command."""
        flags, argv = self.image.healthcheck
        timeout = float(flags.get("timeout", "30s").rstrip("s"))
        try:
            return self.exec(argv, timeout=timeout + 5).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def wait_until(self, check: str, timeout: float) -> None:
        """Poll ``check`` ("healthy" or an HTTP path answering 200) until it holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.raise_if_exited()
            if self.healthcheck() if check == "healthy" else self.get(check)[0] == 200:
                return
            time.sleep(0.25)
        raise AssertionError(f"{check} did not hold within {timeout}s:\n{self.output()}")

    def get(self, path: str) -> tuple[int, str]:
        """(status, body) of GET http://127.0.0.1:<image port><path> inside the sandbox."""
        script = (
            "import sys, urllib.request, urllib.error\n"
            f"url = 'http://127.0.0.1:{self.image.metrics_port}{path}'\n"
            "try:\n"
            "    r = urllib.request.urlopen(url, timeout=5); status, body = r.status, r.read()\n"
            "except urllib.error.HTTPError as e:\n"
            "    status, body = e.code, e.read()\n"
            "except OSError:\n"
            "    status, body = 0, b''\n"
            "sys.stdout.write(f'{status}\\n' + body.decode('utf-8', 'replace'))\n"
        )
        result = self.exec([sys.executable, "-c", script], timeout=20)
        status, _, body = result.stdout.partition("\n")
        return int(status or 0), body

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample of the process's /metrics (Prometheus text format), if present."""
        status, text = self.get("/metrics")
        if status != 200:
            return None
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series.split("{")[0] != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', series))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(value)
        return None

    def wait_for_metric(self, name: str, value: float, timeout: float, **labels: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.raise_if_exited()
            if self.metric(name, **labels) == value:
                return
            time.sleep(0.25)
        found = self.metric(name, **labels)
        raise AssertionError(f"{name}{labels} is {found}, not {value}:\n{self.output()}")

    def raise_if_exited(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"exited with {self.process.returncode}:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float) -> int:
        """SIGTERM, as ``docker stop`` sends; the exit code once it has drained."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> ContainerSandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
