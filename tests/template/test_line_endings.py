"""A Windows clone (core.autocrlf=true) of a generated project keeps its scripts, Dockerfiles
and .env files LF: the project's .gitattributes, proven with real git clones."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from devenv.stack.platforms import crlf_files


def git(cwd: Path, *args: str) -> None:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "core.autocrlf=false"]
    subprocess.run(["git", *ident, *args], cwd=cwd, check=True, capture_output=True)


def windows_clone(rendered: Path, dest: Path) -> Path:
    project = dest.with_name(dest.name + "-origin")  # the rendered project is shared: copy it
    subprocess.run(["cp", "-a", str(rendered), str(project)], check=True)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "add", "-f", ".env.example")
    git(project, "commit", "-q", "-m", "project")
    subprocess.run(
        ["git", "-c", "core.autocrlf=true", "clone", "-q", str(project), str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def test_windows_clone_keeps_scripts_lf(render: Any, tmp_path: Path) -> None:
    project = render({"gpu": "none"})
    assert (project / ".gitattributes").is_file()
    clone = windows_clone(project, tmp_path / "clone")
    assert (clone / "scripts" / "onboard.sh").is_file()
    assert crlf_files(clone) == []


def test_without_gitattributes_the_same_clone_breaks(render: Any, tmp_path: Path) -> None:
    # The control: the check above can fail, and would on a Windows laptop.
    project = tmp_path / "project"
    subprocess.run(["cp", "-a", str(render({"gpu": "none"})), str(project)], check=True)
    (project / ".gitattributes").unlink()
    clone = windows_clone(project, tmp_path / "clone")
    broken = crlf_files(clone)
    assert "scripts/onboard.sh" in broken
    assert "services/postgres/initdb/10-mlflow-db.sh" in broken
