"""Run the real `devenv` entry point in-process, the way a user's shell would see it."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devenv import cli


@dataclass
class Result:
    code: int
    out: str
    err: str


@contextmanager
def _cwd(path: Path | None):  # type: ignore[no-untyped-def]
    old = Path.cwd()
    if path is not None:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str, cwd: Path | None = None) -> Result:
    capsys.readouterr()
    old_argv = sys.argv
    sys.argv = ["devenv", *args]
    try:
        with _cwd(cwd):
            cli.main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = old_argv
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def plain_template_copy(dest: Path) -> Path:
    """A non-git copy of the working tree's template: Copier renders it as it is, uncommitted
    changes included, without cloning or picking a tag."""
    import shutil

    from devenv.scaffold.template import template_root

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(template_root() / "copier.yml", dest / "copier.yml")
    shutil.copytree(template_root() / "template", dest / "template")
    return dest


def rendered_project(tmp_path: Path, **answers: object) -> Path:
    """A real project rendered from the working tree's template into tmp_path/p (defaults,
    gpu=none unless given): what unit tests read compose's own resolution from."""
    import copier

    dest = tmp_path / "p"
    src = plain_template_copy(tmp_path / "template-src")
    copier.run_copy(str(src), dest, defaults=True, quiet=True, data={"gpu": "none", **answers})
    return dest


def git(cwd: Path, *args: str) -> str:
    """git with a throwaway identity (test machines may have none); stdout, raising on failure."""
    import subprocess

    identity = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True
    )
    return done.stdout
