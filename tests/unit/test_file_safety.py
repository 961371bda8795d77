"""Commands never destroy the project's own files (issue 24's bad-input findings): each case
here reported success on the old code while overwriting .env or compose.yaml, writing half a
result, or refilling an empty .env next to existing data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devenv.core import envfile, outputs
from devenv.core.errors import ProjectFileError, UsageError
from devenv.core.project import Project
from devenv.stack import doctor, lifecycle, preflight
from tests.helpers import git, rendered_project, run_cli
from tests.unit.fakes import FakeEngine, container
from tests.unit.test_bad_input import one_error


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return rendered_project(tmp_path)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git/" not in p.as_posix()
    }


@pytest.mark.parametrize("name", [".env", "compose.yaml", ".copier-answers.yml", ".env.example"])
def test_doctor_report_refuses_the_projects_own_files(capsys, project: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(project)
    one_error(run_cli(capsys, "doctor", "--report", name, cwd=project), 20, "would overwrite")
    assert snapshot(project) == before


def test_doctor_report_refuses_a_tracked_file_and_force_allows_it(capsys, project: Path) -> None:  # type: ignore[no-untyped-def]
    git(project, "init", "-q")
    git(project, "add", "README.md")
    before = (project / "README.md").read_bytes()
    one_error(run_cli(capsys, "doctor", "--report", "README.md", cwd=project), 20, "git tracks")
    assert (project / "README.md").read_bytes() == before
    run_cli(capsys, "doctor", "--report", "README.md", "--force", cwd=project)
    assert (project / "README.md").read_bytes().startswith(b"{")


def test_doctor_report_into_an_untracked_file_is_written_private(capsys, project: Path) -> None:  # type: ignore[no-untyped-def]
    run_cli(capsys, "doctor", "--report", "r.json", cwd=project)
    written = project / "r.json"
    assert written.read_text().startswith("{") and written.stat().st_mode & 0o077 == 0
    assert not list(project.glob(".r.json.*"))  # no temporary file left behind


@pytest.mark.parametrize("output", [".env", "compose.yaml"])
def test_k8s_render_refuses_project_files_before_generating_anything(
    capsys, project: Path, output: str
) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(project)
    one_error(run_cli(capsys, "k8s", "render", "local", "-o", output, cwd=project), 20)
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("output", "words"),
    [("/proc/x", "not writable"), ("/proc/devenv-x/out.yaml", "does not exist")],
)
def test_k8s_render_to_an_impossible_path_writes_nothing(
    capsys, project: Path, output: str, words: str
) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(project)
    result = run_cli(capsys, "k8s", "render", "local", "-o", output, cwd=project)
    one_error(result, 2, words)
    assert snapshot(project) == before  # k8s/base/generated untouched


def test_a_folder_is_not_an_output(project: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        outputs.check(project / "k8s", root=project, force=False, flag="-o")


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), outputs.atomic(target) as handle:
        handle.write(b"half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.parametrize("content", [b"", b"# only a comment\n\n"])
def test_an_empty_env_next_to_volumes_is_not_refilled(project: Path, content: bytes) -> None:
    env = project / ".env"
    env.write_bytes(content)
    with pytest.raises(ProjectFileError, match="empty, but this project's volumes exist"):
        envfile.ensure(project, volumes=["p_postgres-data"])
    assert env.read_bytes() == content


def test_an_empty_env_without_volumes_gets_fresh_secrets(project: Path) -> None:
    env = project / ".env"
    env.write_text("")
    assert envfile.ensure(project, volumes=[]).created
    assert envfile.read_env(env)["POSTGRES_PASSWORD"] != envfile.PLACEHOLDER
    assert env.stat().st_mode & 0o077 == 0


def test_an_undecodable_env_is_one_error_and_kept(project: Path) -> None:
    env = project / ".env"
    env.write_bytes(b"POSTGRES_PASSWORD=\xff\xfe\n")
    assert not envfile.holds_settings(env)
    with pytest.raises(ProjectFileError, match="not UTF-8"):
        envfile.ensure(project, volumes=["p_postgres-data"])
    assert env.read_bytes() == b"POSTGRES_PASSWORD=\xff\xfe\n"


class VolumesEngine(FakeEngine):
    def __init__(self, root: Path, volumes: list[str]) -> None:
        super().__init__(root, {"services": {}})
        self.existing = volumes
        self.stopped: list[str] = []

    def volumes(self, compose_project: str | None = None) -> list[str]:
        return self.existing

    def labelled(self) -> list[Any]:
        return [container("postgres", "running"), container("mlflow", "running")]

    def stop_containers(self, ids: Any, *, timeout: int = 10) -> None:
        self.stopped = list(ids)

    def require(self) -> None:
        return None

    def down(self, *, volumes: bool = False, timeout: int | None = None) -> None:
        raise AssertionError("compose cannot read a project without its .env")


def broken_env(project: Path, content: bytes | None) -> None:
    """.env missing (None), or replaced by these bytes."""
    env = project / ".env"
    env.unlink()
    if content is not None:
        env.write_bytes(content)


@pytest.mark.parametrize("content", [None, b"", b"\xff\xfe"])
def test_doctor_fails_when_volumes_exist_without_a_usable_env(
    project: Path, content: bytes | None
) -> None:
    broken_env(project, content)
    check = preflight.check_env_opens_data(VolumesEngine(project, ["p_postgres-data"]))
    assert check.status == "fail" and "docker volume rm p_postgres-data" in (check.fix or "")
    assert preflight.check_env_opens_data(VolumesEngine(project, [])).status == "ok"


def test_doctor_fails_a_corrupted_answers_file(project: Path) -> None:
    (project / ".copier-answers.yml").write_text("_src_path: [unclosed\n")
    check = doctor.check_answers(Project(project))
    assert check.status == "fail" and "not valid YAML" in check.detail
    (project / ".copier-answers.yml").write_text("- a list\n")
    assert doctor.check_answers(Project(project)).status == "fail"


@pytest.mark.parametrize("content", [None, b"\xff\xfe"])
def test_down_without_a_readable_env_stops_containers_by_their_labels(
    project: Path, content: bytes | None
) -> None:
    broken_env(project, content)
    engine = VolumesEngine(project, ["p_postgres-data"])
    found = lifecycle.down(engine)
    assert found is not None and [c.service for c in found] == ["postgres", "mlflow"]
    assert engine.stopped == [c.id for c in found]
