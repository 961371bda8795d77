"""`devenv new` and `devenv update`: thin, careful wrappers around Copier.

The template ships inside the wheel. Copier's three-way update needs the template version a
project was made from, so every bundled template this machine has used is kept as a tagged
commit of a small git repository in the user's cache (`template_snapshot`). Projects record
that repository as `~/.cache/devenv/template`, which resolves on any teammate's machine too.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from devenv import __version__
from devenv.errors import (
    DevenvError,
    DirtyTreeError,
    TemplateError,
    ToolMissingError,
    UpdateConflictError,
    UsageError,
)
from devenv.project import Project

CONFLICT_MARKER = "<<<<<<< "


# ---------------------------------------------------------------- the template itself


def template_root() -> Path:
    """Folder holding copier.yml and template/: in the wheel, or the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_template", here.parents[1]):
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
            raise UsageError(f"--data expects KEY=VALUE, got {item!r}", hint="e.g. --data gpu=none")
        if key not in known:
            raise UsageError(
                f"unknown answer {key!r}",
                hint="known answers: " + ", ".join(sorted(known)),
            )
        kind = known[key].get("type", "str")
        if kind == "int":
            try:
                data[key] = int(value)
            except ValueError:
                raise TemplateError(
                    f"{key} must be a whole number, got {value!r}", hint=f"e.g. --data {key}=8080"
                ) from None
        elif kind == "bool":
            lowered = value.strip().lower()
            if lowered not in {"true", "false", "yes", "no", "1", "0", "on", "off"}:
                raise TemplateError(f"{key} must be true or false, got {value!r}")
            data[key] = lowered in {"true", "yes", "1", "on"}
        else:
            data[key] = value
    return data


# ---------------------------------------------------------------- git helpers


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if not shutil.which("git"):
        raise ToolMissingError("git is not installed", hint="install git, then run this again")
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )


def _git_identity() -> list[str]:
    # Commits made for the user must work on machines with no git identity configured.
    return [
        "-c",
        "user.name=devenv",
        "-c",
        "user.email=devenv@localhost",
        "-c",
        "commit.gpgsign=false",
    ]


def _inside_git_repo(path: Path) -> bool:
    return _git(path, "rev-parse", "--is-inside-work-tree", check=False).returncode == 0


# ---------------------------------------------------------------- the versioned cache


def cache_dir() -> Path:
    if env := os.environ.get("DEVENV_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "devenv"


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


def template_snapshot() -> tuple[str, str]:
    """Commit the bundled template into the cache repository; return (source, tag).

    Each distinct template content gets one tag: `v<version>`, then `v<version>.postN` when a
    development install changes the template without a version bump.
    """
    src = template_root()
    repo = cache_dir() / "template"
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").is_dir():
        _git(repo, "init", "-q")
    names = ("copier.yml", "template")
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copy2(src / "copier.yml", repo / "copier.yml")
    shutil.copytree(
        src / "template", repo / "template", ignore=shutil.ignore_patterns("__pycache__")
    )
    _git(repo, "add", "-A")
    if _git(repo, "status", "--porcelain").stdout.strip():
        digest = _tree_digest(repo, names)[:12]
        _git(repo, *_git_identity(), "commit", "-q", "-m", f"ml-devenv {__version__} ({digest})")
    existing = [t for t in _git(repo, "tag", "--points-at", "HEAD").stdout.split() if t]
    if existing:
        return _portable(repo), existing[0]
    all_tags = set(_git(repo, "tag").stdout.split())
    tag, n = f"v{__version__}", 0
    while tag in all_tags:
        n += 1
        tag = f"v{__version__}.post{n}"
    _git(repo, "tag", tag)
    return _portable(repo), tag


# ---------------------------------------------------------------- new


@dataclass
class NewResult:
    dest: Path
    template: str
    ref: str | None
    git_initialised: bool
    answers: dict[str, Any] = field(default_factory=dict)


def default_name(dest: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Name the project after its folder unless told otherwise: two projects made with the
    defaults must not share a compose project name (and so their volumes and secrets)."""
    if "project_name" in data:
        return data
    name = re.sub(r"[^A-Za-z0-9 ._-]+", "-", dest.name).strip(" .-_")[:50]
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9 ._-]*", name or ""):
        return {**data, "project_name": name}
    return data


def _copier_message(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def new_project(
    dest: Path,
    data: dict[str, Any],
    *,
    defaults: bool,
    template: str | None = None,
    vcs_ref: str | None = None,
    git_init: bool = True,
) -> NewResult:
    """Render the template into `dest`; on any failure, leave nothing half-written behind."""
    import copier  # heavy import, only for the commands that need it
    from copier.errors import CopierError

    dest = dest.expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        what = "is a file" if not dest.is_dir() else "is not empty"
        raise UsageError(
            f"{dest} already exists and {what}",
            hint="pick a new folder, or run `devenv update` inside an existing project",
        )
    src: str
    ref: str | None
    if template is None and shutil.which("git"):
        src, bundled_ref = template_snapshot()
        ref = vcs_ref or bundled_ref
    else:
        # No git: copy straight from the bundle (such a project cannot be updated later).
        src, ref = template or str(template_root()), vcs_ref
    existed = dest.exists()
    try:
        worker = copier.run_copy(
            src,
            dest,
            data=default_name(dest, data),
            defaults=defaults or not sys.stdin.isatty(),
            vcs_ref=ref,
            quiet=True,
            unsafe=False,
            cleanup_on_error=True,
        )
    except (ValueError, CopierError, KeyboardInterrupt) as error:
        if dest.exists() and not existed:
            shutil.rmtree(dest, ignore_errors=True)
        elif existed:
            for entry in dest.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if isinstance(error, KeyboardInterrupt):
            raise
        raise TemplateError(
            _copier_message(error), hint="nothing was written; fix the answer and run again"
        ) from None
    initialised = False
    if git_init and shutil.which("git") and not _inside_git_repo(dest):
        _git(dest, "init", "-q")
        _git(dest, "add", "-A")
        _git(dest, *_git_identity(), "commit", "-q", "-m", "Initial project from ml-devenv")
        initialised = True
    return NewResult(dest, src, ref, initialised, dict(worker.answers.combined))


# ---------------------------------------------------------------- update


@dataclass
class UpdateResult:
    root: Path
    old_ref: str | None
    new_ref: str | None
    changed: list[str]


def _changed_files(root: Path) -> list[str]:
    out = _git(root, "status", "--porcelain", "--untracked-files=all").stdout
    return sorted(line[3:].strip() for line in out.splitlines() if line.strip())


def conflicted_files(root: Path, candidates: Iterable[str]) -> list[str]:
    """Files holding conflict markers, and .rej leftovers."""
    found = []
    for name in candidates:
        path = root / name
        if name.endswith(".rej"):
            found.append(name)
        elif path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if any(line.startswith(CONFLICT_MARKER) for line in text.splitlines()):
                found.append(name)
    return found


def update_project(
    project: Project,
    data: dict[str, Any],
    *,
    template: str | None = None,
    vcs_ref: str | None = None,
) -> UpdateResult:
    """Copier update with guard rails: clean tree first, conflicts reported, nothing lost."""
    import warnings

    from copier.errors import CopierError

    # run_update() cannot take a new template source (--template); Worker can. Copier marks it
    # internal, so its deprecation warning is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from copier import Worker

    root = project.root
    if not _inside_git_repo(root):
        raise UsageError(
            f"{root} is not a git repository; updates need git to merge your edits",
            hint="git init && git add -A && git commit -m 'snapshot', then run devenv update",
        )
    if dirty := _changed_files(root):
        raise DirtyTreeError(
            f"the project has uncommitted changes ({len(dirty)} file(s), e.g. {dirty[0]})",
            hint="commit or stash them first (git add -A && git commit -m wip), then update",
        )
    answers = project.answers()
    old_ref = answers.get("_commit")
    if not old_ref:
        raise TemplateError(
            "this project records no template version, so an update cannot merge safely",
            hint="it was made without git; pass --template <git URL of ml-devenv> --vcs-ref <tag>",
        )
    if template is None:
        template, bundled_ref = template_snapshot()
        vcs_ref = vcs_ref or bundled_ref
        repo = Path(template).expanduser()
        if _git(
            repo, "rev-parse", "--verify", "-q", f"{old_ref}^{{commit}}", check=False
        ).returncode:
            raise TemplateError(
                f"template version {old_ref} is not in this machine's cache ({repo})",
                hint="pass --template <git URL of ml-devenv>, or run once with the CLI version "
                "that created the project",
            )
    try:
        with Worker(
            src_path=template,
            dst_path=root,
            data=data,
            vcs_ref=vcs_ref,
            defaults=True,
            overwrite=True,
            skip_answered=True,
            conflict="inline",
            quiet=True,
            unsafe=False,
        ) as worker:
            worker.run_update()
    except (ValueError, CopierError) as error:
        raise TemplateError(
            _copier_message(error), hint="the project was left as it was (git status shows it)"
        ) from None
    changed = _changed_files(root)
    new_ref = project.answers().get("_commit")
    if conflicts := conflicted_files(root, changed):
        raise UpdateConflictError(
            f"update applied with conflicts in: {', '.join(conflicts)}",
            hint="your edits are kept beside the template's between <<<<<<< and >>>>>>> markers: "
            "resolve them, then git add -A && git commit",
        )
    return UpdateResult(root, str(old_ref), str(new_ref) if new_ref else None, changed)
