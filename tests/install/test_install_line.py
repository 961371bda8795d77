"""The README's install line works as written: the same requirement, with the GitHub URL
pointed at a bare clone of this repository, installs a working `devenv` on the oldest Python
we support and the newest one on the machine. A ref the repository does not hold (a tag that
did not travel with a push) fails here first."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import devenv

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = "https://github.com/ml-devenv/ml-devenv.git"
LINE = re.compile(r'^pipx install "git\+(?P<url>\S+?)@(?P<ref>[^"]+)"', re.MULTILINE)
PYTHONS = ("3.10", "3.13", "3.14")


def readme_line() -> tuple[str, str]:
    found = LINE.search((REPO / "README.md").read_text())
    assert found, 'the README has no `pipx install "git+URL@REF"` line'
    return found["url"], found["ref"]


def interpreter(version: str) -> str | None:
    """python3.X on PATH, else in pyenv's versions (its shims only answer for the active one)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in pyenv.glob(f"{version}.*/bin/python{version}"))
    for exe in filter(None, candidates):
        if subprocess.run([exe, "-V"], capture_output=True).returncode == 0:
            return exe
    return None


def pythons() -> list[str]:
    """python3.10 and the newest Python 3 there is here."""
    found = [exe for exe in map(interpreter, PYTHONS) if exe]
    return [found[0], found[-1]] if len(found) > 1 else found


def bare_clone(tmp_path: Path, ref: str) -> Path:
    bare = tmp_path / "ml-devenv.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(REPO), str(bare)], check=True)
    # CI checks out main detached: its clone then lacks the branch the published one has.
    if (
        ref == "main"
        and subprocess.run(
            ["git", "--git-dir", str(bare), "rev-parse", "-q", "--verify", "refs/heads/main"],
            capture_output=True,
        ).returncode
    ):
        subprocess.run(["git", "--git-dir", str(bare), "branch", "main", "HEAD"], check=True)
    return bare


def install(python: str, requirement: str, where: Path) -> str:
    subprocess.run([python, "-m", "venv", str(where)], check=True)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q"]
    done = subprocess.run(
        [*pip, "--disable-pip-version-check", requirement],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{python}: pip install {requirement}:\n{done.stderr[-1500:]}"
    shown = subprocess.run(
        [str(where / "bin" / "devenv"), "--version"], capture_output=True, text=True, check=True
    )
    return shown.stdout.strip()


@pytest.mark.slow
def test_readme_install_line_installs_a_working_cli(tmp_path: Path) -> None:
    url, ref = readme_line()
    assert url == PUBLISHED
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    found = pythons()
    if len(found) < 2 and not os.environ.get("CI"):
        pytest.skip("needs python3.10 and a newer Python on PATH")
    assert len(found) == 2, f"python3.10 and a newer Python are needed; found {found}"
    bare = bare_clone(tmp_path, ref)
    requirement = f"git+file://{bare}@{ref}"
    with ThreadPoolExecutor(len(found)) as pool:
        versions = list(
            pool.map(lambda py: install(py, requirement, tmp_path / Path(py).name), found)
        )
    assert all(devenv.__version__ in shown for shown in versions), versions


def test_a_ref_the_repository_lacks_fails(tmp_path: Path) -> None:
    # The check above can fail: the old line's tag never travelled with the repository.
    bare = bare_clone(tmp_path, "main")
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "-q"]
    done = subprocess.run(
        [*download, "-d", str(tmp_path / "d"), f"git+file://{bare}@v0.2.0-never-tagged"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
