"""`devenv new` and `devenv update`: thin, careful wrappers around Copier.

The template ships inside the wheel. Copier's three-way update needs the template version a
project was made from, so every bundled template this machine has used is kept as a tagged
commit of a small git repository in the user's cache (`template_snapshot`). Projects record
that repository as `~/.cache/devenv/template`, which resolves on any teammate's machine too.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from devenv import __version__
from devenv.core import proc
from devenv.core.errors import (
    DevenvError,
    TemplateError,
    UsageError,
    shorten,
)
from devenv.core.paths import cache_dir

GIT_TIMEOUT_S = 120


# ---------------------------------------------------------------- the template itself


def template_root() -> Path:
    """Folder holding copier.yml and template/: in the wheel, or the source checkout."""
    package = Path(__file__).resolve().parents[1]  # src/devenv, or devenv in the wheel
    for candidate in (package / "_template", package.parents[1]):
        if (candidate / "copier.yml").is_file() and (candidate / "template").is_dir():
            return candidate
    raise DevenvError(
        "the project template is missing from this installation",
        hint="reinstall the CLI: pip install --force-reinstall ml-devenv",
    )


@cache
def questions() -> dict[str, dict[str, Any]]:
    """copier.yml's questions (settings, the keys starting with '_', left out)."""
    raw = yaml.safe_load((template_root() / "copier.yml").read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_") and isinstance(v, dict)}


def parse_data(items: Sequence[str]) -> dict[str, Any]:
    """`--data KEY=VALUE` pairs, checked against the template's questions before Copier runs."""
    known = questions()
    data: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--data expects KEY=VALUE, got {shorten(item)!r}", hint="e.g. --data gpu=none"
            )
        if key not in known:
            raise UsageError(
                f"unknown answer {shorten(key)!r}",
                hint="known answers: " + ", ".join(sorted(known)),
            )
        kind = known[key].get("type", "str")
        # Strict on purpose: int() and strip() would accept " 80" or "true\n" silently.
        if kind == "int":
            if not re.fullmatch(r"-?[0-9]{1,9}", value):
                raise TemplateError(
                    f"{key} must be a whole number, got {shorten(value)!r}",
                    hint=f"e.g. --data {key}=8080",
                )
            data[key] = int(value)
        elif kind == "bool":
            lowered = value.lower()
            if lowered not in {"true", "false", "yes", "no", "1", "0", "on", "off"}:
                raise TemplateError(
                    f"{key} must be true or false, got {shorten(value)!r}",
                    hint=f"e.g. --data {key}=false",
                )
            data[key] = lowered in {"true", "yes", "1", "on"}
        else:
            data[key] = value
    return data


# ---------------------------------------------------------------- git helpers


def git(cwd: Path, *args: str, check: bool = True) -> proc.Done:
    """git in `cwd`, never prompting; with `check`, a failure is one line with git's words."""
    return proc.run(
        ["git", *args],
        timeout=GIT_TIMEOUT_S,
        cwd=cwd,
        env=proc.quiet_env(),
        check=check,
        what=f"git {args[0]}",
        hint="install git, then run this again"
        if not proc.which("git")
        else "check that git works here (git --version), then run this again",
    )


def git_identity() -> list[str]:
    # Commits made for the user must work on machines with no git identity configured.
    return [
        "-c",
        "user.name=devenv",
        "-c",
        "user.email=devenv@localhost",
        "-c",
        "commit.gpgsign=false",
    ]


def inside_git_repo(path: Path) -> bool:
    return git(path, "rev-parse", "--is-inside-work-tree", check=False).ok


# ---------------------------------------------------------------- the versioned cache


def _portable(path: Path) -> str:
    """`~/...` when under the home folder, so the answers file works for every teammate."""
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def _tree_digest(root: Path, names: Iterable[str]) -> str:
    h = hashlib.sha256()
    for name in names:
        base = root / name
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for f in files:
            if "__pycache__" in f.parts:
                continue
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@contextmanager
def _cache_lock(folder: Path) -> Iterator[None]:
    """One writer at a time: `devenv new` runs side by side share the cache repository."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / ".lock").open("a")
    except OSError as error:
        why = "it is a file" if folder.is_file() else (error.strerror or str(error))
        raise DevenvError(
            f"cannot use the cache folder {folder}: {why}",
            hint="make it a writable folder, or point DEVENV_CACHE_DIR at one",
        ) from None
    with handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; concurrent runs are rare there
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def template_snapshot() -> tuple[str, str]:
    """Commit the bundled template into the cache repository; return (source, tag).

    Each distinct template content gets one tag: `v<version>`, then `v<version>.postN` when a
    development install changes the template without a version bump.
    """
    with _cache_lock(cache_dir()):
        return _snapshot()


def _snapshot() -> tuple[str, str]:
    src = template_root()
    repo = cache_dir() / "template"
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").is_dir():
        git(repo, "init", "-q")
    names = ("copier.yml", "template")
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copy2(src / "copier.yml", repo / "copier.yml")
    shutil.copytree(
        src / "template", repo / "template", ignore=shutil.ignore_patterns("__pycache__")
    )
    git(repo, "add", "-A")
    if git(repo, "status", "--porcelain").stdout.strip():
        digest = _tree_digest(repo, names)[:12]
        git(repo, *git_identity(), "commit", "-q", "-m", f"ml-devenv {__version__} ({digest})")
    existing = [t for t in git(repo, "tag", "--points-at", "HEAD").stdout.split() if t]
    if existing:
        return _portable(repo), existing[0]
    all_tags = set(git(repo, "tag").stdout.split())
    tag, n = f"v{__version__}", 0
    while tag in all_tags:
        n += 1
        tag = f"v{__version__}.post{n}"
    git(repo, "tag", tag)
    return _portable(repo), tag


def copier_message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    stderr = str(getattr(error, "stderr", "") or "").strip().splitlines()
    if stderr:  # a git command failed (plumbum's ProcessExecutionError): git's own words
        return stderr[-1].strip()
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def copier_failures() -> tuple[type[BaseException], ...]:
    """What Copier raises for a bad answer, a bad template, an unreachable source or a disk."""
    from copier.errors import CopierError
    from plumbum import ProcessExecutionError

    return (ValueError, CopierError, OSError, ProcessExecutionError)


def is_local(source: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*://|git@|gh:|gl:)", source)


def check_template(source: str) -> None:
    """A local --template must be a folder with copier.yml (remote ones Copier checks itself)."""
    if not is_local(source):
        return
    path = Path(source).expanduser()
    if not any((path / name).is_file() for name in ("copier.yml", "copier.yaml")):
        what = "does not exist" if not path.exists() else "has no copier.yml"
        raise TemplateError(
            f"template {source} {what}",
            hint="pass a clone of ml-devenv (the folder with copier.yml) or its git URL",
        )


def installed_from() -> tuple[str, str] | None:
    """The git URL and commit this CLI was installed from (pip's PEP 610 record), if any:
    the template ships in the same repository, so a teammate can reach it there."""
    import json
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        raw = distribution("ml-devenv").read_text("direct_url.json")
        record = json.loads(raw) if raw else {}
    except (PackageNotFoundError, ValueError):
        return None
    vcs = record.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and record.get("url") and vcs.get("commit_id"):
        return str(record["url"]), str(vcs["commit_id"])
    return None
