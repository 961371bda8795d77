"""`devenv update`: the template's changes arrive, the user's edits and secrets stay."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devenv import scaffold
from devenv.scaffold import template_root
from tests.helpers import run_cli

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A git copy of the template tagged v1."""
    repo = tmp_path / "template-repo"
    repo.mkdir()
    shutil.copy2(template_root() / "copier.yml", repo)
    shutil.copytree(template_root() / "template", repo / "template")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    return repo


def release_v2(repo: Path, old: str, new: str, file: str = "template/README.md.jinja") -> None:
    path = repo / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    git(repo, "commit", "-qam", "v2")
    git(repo, "tag", "v2")


def make_project(capsys, template_repo: Path, dest: Path) -> Path:  # type: ignore[no-untyped-def]
    result = run_cli(capsys, "new", str(dest), "--defaults", "--template", str(template_repo),
                     "--vcs-ref", "v1")
    assert result.code == 0, result.err
    return dest


def test_update_keeps_edit_and_applies_change(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(capsys, template_repo, tmp_path / "p")
    env_before = (project / ".env").read_text()
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Team notes\n\nOur own section.\n")
    git(project, "commit", "-qam", "team notes")

    release_v2(template_repo, "## Daily use", "## Daily use (v2)")
    result = run_cli(capsys, "update", "--template", str(template_repo), "--vcs-ref", "v2",
                     cwd=project / "services")  # works from a subfolder
    assert result.code == 0, result.err
    text = readme.read_text()
    assert "## Daily use (v2)" in text, "template change applied"
    assert "Our own section." in text, "user edit kept"
    assert (project / ".env").read_text() == env_before, "secrets never regenerated"
    assert "_commit: v2" in (project / ".copier-answers.yml").read_text()
    assert "README.md" in result.out


def test_update_conflict_is_reported_and_nothing_lost(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(capsys, template_repo, tmp_path / "p")
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("## Daily use", "## Everyday use (ours)", 1))
    git(project, "commit", "-qam", "our heading")

    release_v2(template_repo, "## Daily use", "## Daily use (v2)")
    result = run_cli(capsys, "update", "--template", str(template_repo), "--vcs-ref", "v2",
                     cwd=project)
    assert result.code == 6, result.err
    assert "README.md" in result.err and "hint:" in result.err
    text = readme.read_text()
    assert "<<<<<<< " in text and "## Everyday use (ours)" in text and "## Daily use (v2)" in text


def test_update_refuses_dirty_tree(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(capsys, template_repo, tmp_path / "p")
    (project / "compose.yaml").write_text((project / "compose.yaml").read_text() + "\n# wip\n")
    release_v2(template_repo, "## Daily use", "## Daily use (v2)")
    result = run_cli(capsys, "update", "--template", str(template_repo), "--vcs-ref", "v2",
                     cwd=project)
    assert result.code == 5
    assert "uncommitted" in result.err and "hint:" in result.err
    assert "# wip" in (project / "compose.yaml").read_text()
    assert "## Daily use (v2)" not in (project / "README.md").read_text()


def test_update_outside_a_project(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(capsys, "update", cwd=tmp_path)
    assert result.code == 4
    assert "devenv new" in result.err


def test_bundled_template_versions_accumulate_in_cache(capsys, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A project made from the wheel's template updates when the installed template changes."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy2(template_root() / "copier.yml", bundle)
    shutil.copytree(template_root() / "template", bundle / "template")
    monkeypatch.setattr(scaffold, "template_root", lambda: bundle)

    project = tmp_path / "p"
    assert run_cli(capsys, "new", str(project), "--defaults").code == 0
    first = (project / ".copier-answers.yml").read_text()
    assert "_src_path:" in first and "_commit: v" in first

    readme = bundle / "template" / "README.md.jinja"
    readme.write_text(readme.read_text().replace("## Daily use", "## Daily use (newer CLI)", 1))
    result = run_cli(capsys, "update", "--json", cwd=project)
    assert result.code == 0, result.err
    assert "## Daily use (newer CLI)" in (project / "README.md").read_text()
    assert ".post1" in (project / ".copier-answers.yml").read_text()


@pytest.mark.slow
def test_the_wheel_carries_the_template(tmp_path: Path) -> None:
    """`devenv new` must work from an installed package, with no access to this repository."""
    import sys
    import zipfile

    repo = template_root()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(repo)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("ml_devenv-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    source = {f"devenv/_template/{p.relative_to(repo).as_posix()}"
              for p in [repo / "copier.yml", *(repo / "template").rglob("*")]
              if p.is_file() and "__pycache__" not in p.parts}
    assert source <= names, source - names
