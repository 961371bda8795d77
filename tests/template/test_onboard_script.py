"""scripts/onboard.sh's own logic, with stand-ins for docker, pipx and the installed CLI: where
it installs the CLI from, and that it finds it when the installer's bin folder is not on PATH.
(The real path, a real install and a real stack, is tests/e2e/test_teammate.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FAKE_DOCKER = "#!/bin/sh\nexit 0\n"  # `docker info` answers
# pipx installs a devenv that prints how it was called, into ~/.local/bin (not on PATH).
FAKE_PIPX = """#!/bin/sh
echo "$@" > "$HOME/pipx-args"
mkdir -p "$HOME/.local/bin"
printf '#!/bin/sh\\necho "devenv called: $*"\\n' > "$HOME/.local/bin/devenv"
chmod +x "$HOME/.local/bin/devenv"
"""


def tool(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)
    (folder / name).chmod(0o755)


@pytest.fixture
def machine(render, tmp_path: Path):  # type: ignore[no-untyped-def]
    project = render({"gpu": "none"})
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    tool(bin_dir, "docker", FAKE_DOCKER)
    python = shutil.which("python3")
    assert python
    env = {"HOME": str(home), "PATH": f"{bin_dir}:{Path(python).parent}:/usr/bin:/bin"}
    return project, bin_dir, home, env


def answers(project: Path, src: str, commit: str) -> None:
    path = project / ".copier-answers.yml"
    text = "".join(
        line for line in path.read_text().splitlines(keepends=True)
        if not line.startswith(("_src_path:", "_commit:"))
    )
    path.write_text(text + f"_src_path: {src}\n_commit: {commit}\n")


def run(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "scripts/onboard.sh", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("https://git.example.com/team/ml-devenv.git",
         "git+https://git.example.com/team/ml-devenv.git@v0.2.0"),
        ("gh:ml-devenv/ml-devenv", "git+https://github.com/ml-devenv/ml-devenv@v0.2.0"),
        ("git+ssh://git@host/ml-devenv.git", "git+ssh://git@host/ml-devenv.git@v0.2.0"),
    ],
)
def test_installs_from_the_recorded_source_and_finds_the_cli_off_path(machine, src: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    project, bin_dir, home, env = machine
    tool(bin_dir, "pipx", FAKE_PIPX)
    answers(project, src, "v0.2.0")
    first = run(project, env, "--json")
    assert first.returncode == 0, first.stderr
    assert (home / "pipx-args").read_text().split() == ["install", "--force", expected]
    assert first.stdout.strip() == "devenv called: onboard --json"
    assert "add its folder to PATH" in first.stderr
    (home / "pipx-args").unlink()
    again = run(project, env)
    assert again.returncode == 0 and not (home / "pipx-args").exists(), "found, not reinstalled"


def test_devenv_source_wins(machine) -> None:  # type: ignore[no-untyped-def]
    project, bin_dir, home, env = machine
    tool(bin_dir, "pipx", FAKE_PIPX)
    result = run(project, {**env, "DEVENV_SOURCE": "ml-devenv==0.2.0"})
    assert result.returncode == 0, result.stderr
    assert (home / "pipx-args").read_text().split() == ["install", "--force", "ml-devenv==0.2.0"]


def test_a_creators_cache_is_no_source_one_line_and_a_hint(machine) -> None:  # type: ignore[no-untyped-def]
    project, bin_dir, home, env = machine
    tool(bin_dir, "pipx", FAKE_PIPX)
    answers(project, "~/.cache/devenv/template", "v0.2.0")
    result = run(project, env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("onboard: the devenv CLI is not installed")
    assert lines[1].startswith("  hint: set DEVENV_SOURCE=")
    assert not (home / "pipx-args").exists()


def test_a_cli_already_on_path_is_used(machine) -> None:  # type: ignore[no-untyped-def]
    project, bin_dir, _home, env = machine
    tool(bin_dir, "devenv", '#!/bin/sh\necho "on PATH: $*"\n')
    result = run(project, env, "my-args")
    assert result.returncode == 0 and result.stdout.strip() == "on PATH: onboard my-args"
    assert "add its folder" not in result.stderr


def test_install_cli_only_installs_and_prints_where(machine) -> None:  # type: ignore[no-untyped-def]
    """What the images workflow runs to get `devenv images tags`: nothing is onboarded."""
    project, bin_dir, home, env = machine
    tool(bin_dir, "pipx", FAKE_PIPX)
    result = run(project, {**env, "DEVENV_SOURCE": "ml-devenv==0.2.0"}, "--install-cli")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(home / ".local" / "bin" / "devenv")
    assert "devenv called" not in result.stdout
