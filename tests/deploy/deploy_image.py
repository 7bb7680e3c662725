"""The facts of the Dockerfile that other deployment files must agree with.

Parsed with the ``dockerfile`` package, which wraps BuildKit's own parser, so
line continuations, exec and shell forms and flags are read exactly as
``docker build`` reads them. Only the final stage's instructions describe the
running container.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[dockerfile.Command] = field(default_factory=list)

    def all(self, cmd: str) -> list[dockerfile.Command]:
        return [i for i in self.instructions if i.cmd == cmd]

    def last(self, cmd: str) -> dockerfile.Command | None:
        found = self.all(cmd)
        return found[-1] if found else None


@dataclass
class Image:
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def _exec_form(self, cmd: str) -> list[str]:
        instruction = self.final.last(cmd)
        if instruction is None:
            return []
        if not instruction.json:
            raise AssertionError(f"{cmd} must use the exec (JSON) form: {instruction.original}")
        return list(instruction.value)

    @property
    def entrypoint(self) -> list[str]:
        return self._exec_form("ENTRYPOINT")

    @property
    def cmd(self) -> list[str]:
        return self._exec_form("CMD")

    @property
    def argv(self) -> list[str]:
        """What the container runs when started with no arguments."""
        return self.entrypoint + self.cmd

    @property
    def user(self) -> str | None:
        instruction = self.final.last("USER")
        return instruction.value[0] if instruction else None

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for instruction in self.final.all("ENV"):
            values = instruction.value
            env.update(zip(values[::2], values[1::2], strict=True))
        return env

    @property
    def exposed_ports(self) -> list[int]:
        return [int(p.split("/")[0]) for i in self.final.all("EXPOSE") for p in i.value]

    @property
    def healthcheck(self) -> tuple[dict[str, str], list[str]]:
        """(flags, exec argv) of the final stage's HEALTHCHECK."""
        instruction = self.final.last("HEALTHCHECK")
        if instruction is None:
            raise AssertionError("the image has no HEALTHCHECK")
        flags = dict(flag.lstrip("-").split("=", 1) for flag in instruction.flags)
        kind, *argv = instruction.value
        if kind != "CMD" or not instruction.json:
            raise AssertionError(f"HEALTHCHECK must be CMD in exec form: {instruction.original}")
        return flags, argv

    def option(self, name: str) -> str:
        """The value following ``name`` in the default command line."""
        argv = self.argv
        return argv[argv.index(name) + 1]

    @property
    def rules_path(self) -> str:
        return self.option("--rules")

    @property
    def metrics_port(self) -> int:
        return int(self.option("--metrics-addr").rpartition(":")[2])


def load_image(path: Path = DOCKERFILE) -> Image:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in dockerfile.parse_file(str(path)):
        if instruction.cmd == "ARG" and not stages:
            name, _, default = instruction.value[0].partition("=")
            args[name] = default
        elif instruction.cmd == "FROM":
            base = instruction.value[0]
            for name, default in args.items():
                base = base.replace(f"${{{name}}}", default).replace(f"${name}", default)
            alias = instruction.value[2] if len(instruction.value) == 3 else None
            stages.append(Stage(base=base, name=alias))
        elif stages:
            stages[-1].instructions.append(instruction)
    return Image(args=args, stages=stages)


def shell_words(instruction: dockerfile.Command) -> list[str]:
    """A shell-form RUN split into words (for reading the commands it runs)."""
    return shlex.split(" ".join(instruction.value))
