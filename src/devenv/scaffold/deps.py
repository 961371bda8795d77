"""A project's Python packages: pins in pyproject.toml's dependency groups, resolved by uv into
uv.lock (every platform, every file's hash), exported per image into
services/<image>/requirements.lock, which the image installs with `pip --require-hashes`.

`devenv add` and `devenv lock` change them; the project's pre-commit hooks run the same export
commands (EXPORTS, export_args), so either way the files come out byte for byte the same."""

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


def export_args(group: str, *, to_file: bool = True) -> list[str]:
    """uv's arguments that export a group (the hooks' entry, after `uv`)."""
    # --no-annotate: no "# via" lines, so a file changes only when its pins or hashes do (and
    # the image's package layer is reused when another group changes).
    command = ["export", "--frozen", "--quiet", "--no-emit-project", "--no-annotate",
               "--only-group", group]  # fmt: skip
    return [*command, "--output-file", EXPORTS[group]] if to_file else command


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


def _uv(root: Path, args: Sequence[str], what: str) -> str:
    """Run uv in the project; its output, or ToolFailedError with uv's own reason."""
    done = proc.run([uv_binary(), *args], timeout=TIMEOUT, cwd=root, what=what)
    if not done.ok:
        raise ToolFailedError(
            f"{what} failed: {_reason(done.stderr) or done.last_line()}",
            hint="uv's message is above; check the package name and version on PyPI",
            details=done.stderr.strip() or None,
        )
    return done.stdout


def _images(root: Path) -> list[tuple[str, str]]:
    """(group, lock file) of the images this project has."""
    return [(group, path) for group, path in EXPORTS.items() if (root / path).parent.is_dir()]


def export(root: Path) -> Locked:
    """Write each image's requirements.lock from uv.lock (for the images this project has)."""
    written = []
    for group, path in _images(root):
        before = _read(root / path)
        _uv(root, export_args(group), f"uv export {group}")
        if _read(root / path) != before:
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
    stale = [
        path
        for group, path in _images(root)
        if _body(_uv(root, export_args(group, to_file=False), f"uv export {group}"))
        != _body(_read(root / path))
    ]
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
REPLACED = {f"services/{image}/requirements.txt": image for image in EXPORTS}


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
