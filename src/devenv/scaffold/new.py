"""`devenv new`: render the template into a new folder, or leave nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.core import envfile, proc
from devenv.core.errors import TemplateError, UsageError
from devenv.core.project import ANSWERS_FILE
from devenv.scaffold import template as tpl
from devenv.scaffold.template import (
    check_template,
    copier_failures,
    copier_message,
    git,
    inside_git_repo,
)


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
    if template is None and proc.which("git"):
        src, bundled_ref = tpl.template_snapshot()
        ref = vcs_ref or bundled_ref
    else:
        # No git: copy straight from the bundle (such a project cannot be updated later).
        src, ref = template or str(tpl.template_root()), vcs_ref
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
    except (*copier_failures(), KeyboardInterrupt) as error:  # type: ignore[misc]
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
            copier_message(error), hint=f"nothing was written; {fix} and run again"
        ) from None
    envfile.tighten(dest / ".env")
    origin = tpl.installed_from() if template is None and vcs_ref is None else None
    if origin is not None and src != str(tpl.template_root()):
        record_source(dest, *origin)
        src, ref = origin
    initialised = False
    if git_init and proc.which("git") and not inside_git_repo(dest):
        git(dest, "init", "-q")
        git(dest, "add", "-A")
        git(dest, *tpl.git_identity(), "commit", "-q", "-m", "Initial project from ml-devenv")
        initialised = True
    return NewResult(dest, src, ref, initialised, dict(worker.answers.combined))
