"""The Engine is the one door to Docker: its translation of what the docker CLI says into our
errors, shown with stand-in `docker` programs on PATH (real engines are in tests/e2e)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from devenv.core.errors import (
    ComposeMissingError,
    DockerCommandError,
    EngineUnavailableError,
    ToolMissingError,
)
from devenv.core.project import Project
from devenv.docker.engine import Engine


def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Engine:
    """An Engine for a bare project whose `docker` is this shell script (and nothing else)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\n" + script)
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    return Engine(Project(tmp_path))


DOWN = 'echo "Cannot connect to the Docker daemon at unix:///x.sock." >&2; exit 1\n'


def test_an_engine_that_does_not_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = stand_in(tmp_path, monkeypatch, DOWN)
    assert engine.responds() is False
    with pytest.raises(EngineUnavailableError):
        engine.containers()
    with pytest.raises(EngineUnavailableError):
        engine.exec("mlflow", ["true"])


def test_no_docker_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError):
        Engine().responds()
    assert Engine().compose_version is None, "doctor reports it as a failed check instead"


def test_compose_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = (
        'case "$1" in info|system) echo "{}"; exit 0;; esac\n'
        'echo "unknown flag: --file" >&2; exit 125\n'
    )
    with pytest.raises(ComposeMissingError):
        stand_in(tmp_path, monkeypatch, script).containers()


def test_a_command_that_fails_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine answers; compose itself fails: one line from its stderr, the code kept."""
    script = (
        'case "$1" in info|system) echo "{}"; exit 0;; esac\n'
        'echo "noise"; echo "service \\"x\\" has neither an image nor a build" >&2; exit 15\n'
    )
    engine = stand_in(tmp_path, monkeypatch, script)
    with pytest.raises(DockerCommandError) as info:
        engine.restart(["x"])
    assert info.value.message == 'service "x" has neither an image nor a build'
    assert info.value.return_code == 15


def test_exec_exit_code_is_a_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = 'case "$*" in *exec*) echo out; echo "boom" >&2; exit 3;; esac\nexit 0\n'
    result = stand_in(tmp_path, monkeypatch, script).exec("mlflow", ["false"])
    assert (result.ok, result.code, result.last_line()) == (False, 3, "boom")
    assert "out" in result.stdout


def test_the_users_compose_override_is_read_as_compose_would(tmp_path: Path) -> None:
    # Files passed explicitly switch off compose's own pick-up of compose.override.yaml.
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    engine = Engine(Project(tmp_path))
    assert [Path(f).name for f in engine._client().client_config.compose_files] == ["compose.yaml"]
    (tmp_path / "compose.override.yaml").write_text("services: {}\n")
    files = [Path(f).name for f in engine._client(gpu=True).client_config.compose_files]
    assert files == ["compose.yaml", "compose.override.yaml", "compose.gpu.yaml"]
