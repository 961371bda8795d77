"""The one door to external programs: git, kubectl, trivy, npm, node, nvidia-smi, lsof and the
cluster tools. Docker is not among them: python-on-whales is its door (devenv.docker.engine).

A tool is found with its install hint (`find`), run with a timeout (`run`), and its failures
become errors of our hierarchy in this one place: not installed -> ToolMissingError (exit 7),
out of time or unable to start -> ToolFailedError (exit 8), a non-zero exit -> the caller's
error class, when the caller asks (`check=True`), with the tool's own last line. A run longer
than a few seconds says what it waits for (devenv.core.notice), so no command is silent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devenv.core import notice
from devenv.core.errors import DevenvError, ToolFailedError, ToolMissingError


@dataclass(frozen=True)
class Done:
    """A finished program: its exit code and what it printed (decoded, never raising)."""

    tool: str
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def last_line(self, fallback: str = "no output") -> str:
        """The tool's last word: the last line of its error output, else of its output."""
        lines = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return lines[-1].strip() if lines else fallback


def which(name: str) -> str | None:
    """A program from PATH, or from this Python's bin folder (pip-installed tools land there)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def find(name: str, *, hint: str) -> str:
    """The path of a tool, or ToolMissingError with how to install it."""
    found = which(name)
    if not found:
        raise ToolMissingError(f"{name} is not installed (not found on PATH)", hint=hint)
    return found


def _spawn(
    args: list[str],
    *,
    timeout: float,
    stdin: str | None,
    cwd: Path | None,
    env: Mapping[str, str] | None,
) -> subprocess.CompletedProcess[str]:
    """The only subprocess call of devenv (tests replace it to inject faults)."""
    return subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        cwd=cwd,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        check=False,
    )


def run(
    args: Sequence[str],
    *,
    timeout: float,
    stdin: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    what: str | None = None,
    error: type[DevenvError] = ToolFailedError,
    hint: str | None = None,
) -> Done:
    """Run a program to its end, within `timeout` seconds.

    `what` names the step for messages ("kubectl apply"); `check` turns a non-zero exit into
    `error` carrying the tool's last line; `hint` says what to do about any failure."""
    command = [str(a) for a in args]
    tool = Path(command[0]).name
    doing = what or tool
    try:
        with notice.waiting(f"{doing} is still running"):
            done = _spawn(command, timeout=timeout, stdin=stdin, cwd=cwd, env=env)
    except FileNotFoundError:
        raise ToolMissingError(
            f"{tool} is not installed (not found on PATH)", hint=hint or f"install {tool}"
        ) from None
    except subprocess.TimeoutExpired:
        raise ToolFailedError(
            f"{doing} did not finish within {timeout:g} s",
            hint=hint or f"run it by hand to see where it hangs: {' '.join(command[:4])}",
        ) from None
    except OSError as failure:  # not executable, a bad interpreter line, ...
        raise ToolFailedError(
            f"{tool} could not start: {failure.strerror or failure}",
            hint=hint or f"check the {tool} installation",
        ) from None
    result = Done(tool, done.returncode, done.stdout or "", done.stderr or "")
    if check and not result.ok:
        shown = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(command[:4]))
        raise error(
            f"{doing} failed: {result.last_line()}",
            hint=hint or f"run `{shown}` by hand to see its whole output",
        )
    return result


def quiet_env(**extra: str) -> dict[str, str]:
    """This environment, with prompts turned off (git must never ask for a password)."""
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", **extra}
