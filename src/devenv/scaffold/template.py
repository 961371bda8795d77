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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from devenv import __version__

from devenv.core import envfile
from devenv.core.errors import (
    DevenvError,
    DirtyTreeError,
    TemplateError,
    ToolMissingError,
    UpdateConflictError,
    UsageError,
)
from devenv.core.project import ANSWERS_FILE, Project

CONFLICT_MARKER = "<<<<<<< "


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
            raise UsageError(f"--data expects KEY=VALUE, got {item!r}", hint="e.g. --data gpu=none")
        if key not in known:
            raise UsageError(
                f"unknown answer {key!r}",
                hint="known answers: " + ", ".join(sorted(known)),
            )
        kind = known[key].get("type", "str")
        # Strict on purpose: int() and strip() would accept " 80" or "true\n" silently.
        if kind == "int":
            if not re.fullmatch(r"-?[0-9]{1,9}", value):
                raise TemplateError(
                    f"{key} must be a whole number, got {value!r}", hint=f"e.g. --data {key}=8080"
                )
            data[key] = int(value)
        elif kind == "bool":
            lowered = value.lower()
            if lowered not in {"true", "false", "yes", "no", "1", "0", "on", "off"}:
                raise TemplateError(
                    f"{key} must be true or false, got {value!r}", hint=f"e.g. --data {key}=false"
                )
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
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    stderr = str(getattr(error, "stderr", "") or "").strip().splitlines()
    if stderr:  # a git command failed (plumbum's ProcessExecutionError): git's own words
        return stderr[-1].strip()
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _copier_failures() -> tuple[type[BaseException], ...]:
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


def record_source(dest: Path, source: str, commit: str) -> None:
    """Point the answers file at a template source teammates can reach."""
    path = dest / ANSWERS_FILE
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^_src_path: .*$", f"_src_path: {source}", text)
    text = re.sub(r"(?m)^_commit: .*$", f"_commit: {commit}", text)
    path.write_text(text, encoding="utf-8")


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

    dest = dest.expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        what = "is a file" if not dest.is_dir() else "is not empty"
        raise UsageError(
            f"{dest} already exists and {what}",
            hint="pick a new folder, or run `devenv update` inside an existing project",
        )
    blocker = next((p for p in dest.parents if p.exists()), None)
    if blocker is not None and not (blocker.is_dir() and os.access(blocker, os.W_OK | os.X_OK)):
        raise UsageError(
            f"cannot create {dest}: {blocker} is "
            + ("not a folder" if not blocker.is_dir() else "not writable"),
            hint="pick a folder you can write to",
        )
    if template is not None:
        check_template(template)
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
    except (*_copier_failures(), KeyboardInterrupt) as error:  # type: ignore[misc]
        if dest.exists() and not existed:
            shutil.rmtree(dest, ignore_errors=True)
        elif existed:
            for entry in dest.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if isinstance(error, KeyboardInterrupt):
            raise
        git_or_disk = isinstance(error, OSError) or getattr(error, "stderr", None)
        fix = "check --template and the destination" if git_or_disk else "fix the answer"
        raise TemplateError(
            _copier_message(error), hint=f"nothing was written; {fix} and run again"
        ) from None
    envfile.tighten(dest / ".env")
    origin = installed_from() if template is None and vcs_ref is None else None
    if origin is not None and src != str(template_root()):
        record_source(dest, *origin)
        src, ref = origin
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
    # Files you had edited that the new template no longer ships: restored, never deleted.
    kept: list[str] = field(default_factory=list)
    env: envfile.EnvSync = field(default_factory=envfile.EnvSync)
    env_follow: envfile.EnvFollow = field(default_factory=envfile.EnvFollow)
    # Answers this update changed: name -> (before, after).
    answers: dict[str, tuple[object, object]] = field(default_factory=dict)

    @property
    def store_changed(self) -> bool:
        """A new object store starts on the old one's volume, whose files it cannot read."""
        return "object_store" in self.answers


def _changed_files(root: Path) -> list[str]:
    out = _git(root, "status", "--porcelain", "--untracked-files=all").stdout
    return sorted(line[3:].strip() for line in out.splitlines() if line.strip())


def _deleted_files(root: Path) -> list[str]:
    out = _git(root, "status", "--porcelain").stdout
    return sorted(line[3:].strip() for line in out.splitlines() if line[:2].strip() == "D")


def conflicted_files(root: Path, candidates: Iterable[str]) -> list[str]:
    """Files holding conflict markers, .rej leftovers, and notebooks that are no longer JSON
    (a conflicted notebook is invalid JSON: Jupyter refuses to open it)."""
    import json

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
            elif name.endswith(".ipynb"):
                try:
                    json.loads(text)
                except ValueError:
                    found.append(name)
    return found


def _is_cache(source: str) -> bool:
    try:
        return Path(source).expanduser().resolve() == (cache_dir() / "template").resolve()
    except OSError:
        return False


def update_source(
    answers: dict[str, object], template: str | None, vcs_ref: str | None
) -> tuple[str, str | None]:
    """Where the new template comes from: --template, else the answers file's `_src_path`
    (a git URL or clone for a teammate or a `copier copy` project), else this CLI's bundle."""
    old_ref = str(answers.get("_commit") or "")
    if template is not None:
        check_template(template)
        return template, vcs_ref
    source = str(answers.get("_src_path") or "")
    if source and not _is_cache(source):
        check_template(source)
        return source, vcs_ref  # Copier takes the newest release tag when no ref is given
    cache, bundled_ref = template_snapshot()
    repo = Path(cache).expanduser()
    if _git(repo, "rev-parse", "--verify", "-q", f"{old_ref}^{{commit}}", check=False).returncode:
        raise TemplateError(
            f"template version {old_ref} is not in this machine's cache ({repo}): the project "
            "was made on another machine from a CLI installed without its git URL",
            hint="pass --template <git URL of ml-devenv> (the CLI's own repository)",
        )
    return cache, vcs_ref or bundled_ref


def _restore_edited_removals(
    root: Path, source: str, old_ref: str, data: dict[str, Any]
) -> list[str]:
    """Copier deletes every file the new template dropped, edited or not. Put back the ones
    whose content differs from what the old template rendered: they hold your work."""
    deleted = _deleted_files(root)
    if not deleted:
        return []
    import tempfile

    import copier

    with tempfile.TemporaryDirectory(prefix="devenv-old-") as tmp:
        old = Path(tmp) / "render"
        try:
            copier.run_copy(
                source, old, data=data, vcs_ref=old_ref, defaults=True, quiet=True, unsafe=False
            )
        except _copier_failures():
            pass  # the old version cannot be rendered: keep every deleted file, to be safe
        kept = []
        for name in deleted:
            committed = _git(root, "show", f"HEAD:{name}").stdout
            rendered = old / name
            if not rendered.is_file() or rendered.read_text(encoding="utf-8") != committed:
                _git(root, "checkout", "HEAD", "--", name)
                kept.append(name)
    return kept


def update_project(
    project: Project,
    data: dict[str, Any],
    *,
    template: str | None = None,
    vcs_ref: str | None = None,
) -> UpdateResult:
    """Copier update with guard rails: clean tree first, conflicts reported, nothing lost."""
    import warnings

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
    source, vcs_ref = update_source(answers, template, vcs_ref)
    example = root / ".env.example"
    example_before = example.read_text(encoding="utf-8") if example.is_file() else ""
    env_missing = not (root / ".env").is_file()
    try:
        with Worker(
            src_path=source,
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
        old_answers = {k: v for k, v in answers.items() if not str(k).startswith("_")}
        kept = _restore_edited_removals(root, source, str(old_ref), old_answers)
    except _copier_failures() as error:
        if env_missing:
            (root / ".env").unlink(missing_ok=True)  # see below
        raise TemplateError(
            f"{_copier_message(error)} (template {source})",
            hint="the project was left as it was (git status shows it); check --template",
        ) from None
    if env_missing:
        # Copier re-renders a missing .env with new secrets. It stays missing: `devenv up`
        # decides, knowing whether volumes made with the old secrets exist.
        (root / ".env").unlink(missing_ok=True)
    changed = _changed_files(root)
    new_ref = project.answers().get("_commit")
    if conflicts := conflicted_files(root, changed):
        raise UpdateConflictError(
            f"update applied with conflicts in: {', '.join(conflicts)}",
            hint="your edits are kept beside the template's between <<<<<<< and >>>>>>> markers: "
            "resolve them, then git add -A && git commit",
        )
    # .env is git-ignored and Copier never touches it: bring it in step with .env.example.
    example_after = example.read_text(encoding="utf-8") if example.is_file() else ""
    followed = envfile.follow(root / ".env", example_before, example_after)
    synced = envfile.EnvSync() if env_missing else envfile.ensure(root)
    after = project.answers()
    differ = {
        k: (answers.get(k), after.get(k))
        for k in sorted(set(answers) | set(after))
        if not str(k).startswith("_") and answers.get(k) != after.get(k)
    }
    return UpdateResult(
        root,
        str(old_ref),
        str(new_ref) if new_ref else None,
        changed,
        kept,
        synced,
        followed,
        differ,
    )
