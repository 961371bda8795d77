"""A project's Python packages: pins in pyproject.toml's dependency groups, resolved by uv into
uv.lock (every platform, every file's hash), exported per image into
services/<image>/requirements.lock, which the image installs with `pip --require-hashes`.

`devenv add` and `devenv lock` change them; the project's pre-commit hooks run the same export
commands (EXPORTS, export_command), so either way the files come out byte for byte the same."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devenv.core import proc
from devenv.core.errors import ToolFailedError, UsageError

# The image a dependency group is installed into, and the file it installs from.
EXPORTS = {
    "jupyter": "services/jupyter/requirements.lock",
    "serving": "services/serving/requirements.lock",
}
GROUPS = ("train", "serving", "dev", "jupyter")
TIMEOUT = 600.0


def uv_binary() -> str:
    """uv from its PyPI package (a dependency of devenv), else from PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return proc.find("uv", hint="pip install uv (or reinstall devenv, which depends on it)")


def export_command(uv: str, group: str) -> list[str]:
    # --no-annotate: no "# via" lines, so a file changes only when its pins or hashes do (and
    # the image's package layer is reused when another group changes).
    return [uv, "export", "--frozen", "--quiet", "--no-emit-project", "--no-annotate",
            "--only-group", group, "--output-file", EXPORTS[group]]  # fmt: skip


@dataclass(frozen=True)
class Locked:
    """What changed: the lock files written (relative to the project)."""

    exported: list[str]


def require_locked_project(root: Path) -> None:
    if not (root / "uv.lock").is_file() or not (root / "pyproject.toml").is_file():
        raise UsageError(
            f"{root} has no pyproject.toml and uv.lock: its images install from "
            "services/*/requirements.txt",
            hint="devenv update brings the lock (docs/daily-use.md: dependencies)",
        )


def _uv(root: Path, args: Sequence[str], what: str) -> None:
    done = proc.run([uv_binary(), *args], timeout=TIMEOUT, cwd=root, what=what)
    if not done.ok:
        raise ToolFailedError(
            f"{what} failed: {_reason(done.stderr) or done.last_line()}",
            hint="uv's message is above; check the package name and version on PyPI",
            details=done.stderr.strip() or None,
        )


def export(root: Path) -> Locked:
    """Write each image's requirements.lock from uv.lock (for the images this project has)."""
    written = []
    for group, path in EXPORTS.items():
        if (root / path).parent.is_dir():
            before = (root / path).read_bytes() if (root / path).is_file() else b""
            done = proc.run(export_command(uv_binary(), group), timeout=TIMEOUT, cwd=root)
            if not done.ok:
                raise ToolFailedError(f"uv export failed: {done.last_line()}", hint="devenv lock")
            if (root / path).read_bytes() != before:
                written.append(path)
    return Locked(written)


def add(root: Path, packages: Sequence[str], group: str) -> Locked:
    """`uv add --group GROUP PACKAGES` (resolves and locks), then the exports."""
    require_locked_project(root)
    if group not in GROUPS:
        raise UsageError(f"unknown group {group!r}", hint=f"one of: {', '.join(GROUPS)}")
    _uv(root, ["add", "--quiet", "--no-sync", "--group", group, *packages], f"uv add {group}")
    return export(root)


def lock(root: Path, *, check: bool = False) -> Locked:
    """Re-resolve after pyproject.toml was edited by hand, then export; with `check`, change
    nothing and fail when uv.lock or an export is out of date."""
    require_locked_project(root)
    if not check:
        _uv(root, ["lock", "--quiet"], "uv lock")
        return export(root)
    _uv(root, ["lock", "--check", "--quiet"], "uv lock --check")
    stale = []
    for group, path in EXPORTS.items():
        if (root / path).parent.is_dir():
            to_stdout = export_command(uv_binary(), group)[:-2]  # without --output-file PATH
            done = proc.run(to_stdout, timeout=TIMEOUT, cwd=root)
            if not done.ok or _body(done.stdout) != _body(_read(root / path)):
                stale.append(path)
    if stale:
        raise UsageError(
            f"{', '.join(stale)} do not match uv.lock", hint="devenv lock writes them again"
        )
    return Locked([])


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _body(text: str) -> list[str]:
    """The requirements, without uv's header comment (it names the output file)."""
    return [line for line in text.splitlines() if not line.startswith("#")]


def _reason(stderr: str) -> str | None:
    """uv's own reason among its lines (a failed resolution says "Because ...")."""
    lines = [line.strip().removeprefix("cause: ") for line in stderr.splitlines()]
    found = [line for line in lines if line.startswith("Because ")]
    return found[0] if found else None


# Where each image's pins lived before the lock (the files `devenv update` may keep).
REPLACED = {
    "services/jupyter/requirements.txt": "jupyter",
    "services/serving/requirements.txt": "serving",
}


def locked_versions(root: Path) -> dict[str, str]:
    """Package -> version in uv.lock (read by pattern: tomllib needs Python 3.11)."""
    text = _read(root / "uv.lock")
    found = re.findall(r'^name = "([^"]+)"\nversion = "([^"]+)"', text, flags=re.MULTILINE)
    return {_normal(name): version for name, version in found}


def unlocked_pins(root: Path, path: str) -> list[str]:
    """The pins of an old requirements.txt that uv.lock lacks (other package or version):
    what `devenv add` must bring over before the file goes."""
    locked = locked_versions(root)
    missing = []
    for line in _read(root / path).splitlines():
        pin = line.split("#", 1)[0].strip()
        name, _, version = pin.partition("==")
        if pin and locked.get(_normal(name.split("[")[0])) != version.strip():
            missing.append(pin)
    return missing


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()
