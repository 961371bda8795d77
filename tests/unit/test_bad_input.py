"""Bad input anywhere: one `error:` line, a `hint:`, the documented exit code, no traceback,
nothing half-written. Each case is reproduced for real (a PATH without docker, a malformed
DOCKER_HOST, a file where a folder should be, bytes that are not UTF-8...)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import Result, git, rendered_project, run_cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return rendered_project(tmp_path)


def one_error(result: Result, code: int, *words: str) -> None:
    assert result.code == code, result
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert errors, result.err
    assert lines[errors[-1] + 1 :][:1] and lines[errors[-1] + 1].startswith("hint: "), result.err
    for word in words:
        assert word in lines[errors[-1]], (word, lines[errors[-1]])


def test_no_docker_cli_on_path(capsys, project: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for command in ("status", "up", "logs", "down"):
        one_error(run_cli(capsys, command, cwd=project), 7, "docker CLI is not installed")


def test_docker_without_the_compose_plugin(
    capsys, project: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The docker CLI alone reads compose's flags as its own: say compose is missing (exit 11)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text('#!/bin/sh\necho "unknown flag: --file" >&2\nexit 125\n')
    (fake / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    for command in ("urls", "open", "status"):
        args = [command, "jupyter"] if command == "open" else [command]
        one_error(run_cli(capsys, *args, cwd=project), 11, "Docker Compose v2 is not installed")


def test_malformed_docker_host(capsys, project: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DOCKER_HOST", "not-a-url://")
    for command in ("status", "up"):
        one_error(run_cli(capsys, command, cwd=project), 10, "DOCKER_HOST=not-a-url://")


def test_a_bad_output_path_is_a_usage_error(capsys, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """doctor --report and k8s render -o: the same mistake, the same exit (2; doctor said 1)."""
    bad = str(tmp_path / "missing" / "r.json")
    one_error(run_cli(capsys, "doctor", "--report", bad, cwd=project), 2, "does not exist")


def test_new_under_a_file(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "afile").write_text("x")
    one_error(
        run_cli(capsys, "new", str(tmp_path / "afile" / "p"), "--defaults"), 2, "not a folder"
    )


def test_new_into_an_unwritable_folder(capsys, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Tests run as root, which writes anywhere: the permission answer is stood in for."""
    from devenv.scaffold import new as scaffold

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    real_access = os.access
    monkeypatch.setattr(
        scaffold.os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode)
    )
    one_error(run_cli(capsys, "new", str(locked / "p"), "--defaults"), 2, "not writable")
    assert not (locked / "p").exists()


@pytest.mark.parametrize("kind", ["no copier.yml", "missing", "unreachable"])
def test_bad_template_source(capsys, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    source = {
        "no copier.yml": str(tmp_path),
        "missing": str(tmp_path / "nowhere"),
        "unreachable": "file:///nonexistent/ml-devenv.git",
    }[kind]
    dest = tmp_path / "p"
    one_error(run_cli(capsys, "new", str(dest), "--defaults", "--template", source), 3)
    assert not dest.exists()


def test_cache_dir_is_a_file(capsys, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("DEVENV_CACHE_DIR", str(tmp_path / "cache"))
    one_error(run_cli(capsys, "new", str(tmp_path / "p"), "--defaults"), 1, "it is a file")
    assert not (tmp_path / "p").exists()


def test_env_not_utf8(capsys, project: Path) -> None:  # type: ignore[no-untyped-def]
    with (project / ".env").open("ab") as env:
        env.write(b"NOTE=caf\xe9\n")  # Latin-1, as an old editor saves it
    for command in ("env", "status", "doctor"):
        one_error(run_cli(capsys, command, cwd=project), 20, "not UTF-8")


def test_broken_answers_file(capsys, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / ".copier-answers.yml").write_text("_commit: v1\nproject_name: [unclosed\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "broken"]):
        git(project, *args)
    one_error(run_cli(capsys, "update", cwd=project), 20, "not valid YAML")


def test_concurrent_new_runs_share_one_cache(tmp_path: Path) -> None:
    """Four `devenv new` at once, one fresh template cache: all succeed, one tag for the lot."""
    env = {**os.environ, "DEVENV_CACHE_DIR": str(tmp_path / "cache")}
    code = "from devenv.cli import main; main()"

    def new(i: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, "new", str(tmp_path / f"p{i}"), "--defaults"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(new, range(4)))
    for result in results:
        assert result.returncode == 0, result.stderr
    tags = subprocess.run(
        ["git", "tag"],
        cwd=tmp_path / "cache" / "template",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(tags) == 1, tags
