"""`devenv update`: the template's changes arrive, the user's edits and secrets stay."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from devenv.core.envfile import read_env
from devenv.scaffold import template as scaffold
from devenv.scaffold.template import template_root
from tests.helpers import git, run_cli


def plain_git_template(tmp_path: Path) -> Path:
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


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    return plain_git_template(tmp_path)


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


# ---------------------------------------------------------------- nothing lost, for real


def compose_config_ok(project: Path) -> None:
    result = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=project,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_update_keeps_an_edited_file_the_template_removed(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(capsys, template_repo, tmp_path / "p")
    edited, untouched = project / "scripts" / "onboard.sh", project / "notebooks" / "README.md"
    assert untouched.is_file()
    edited.write_text(edited.read_text() + "\n# our own step\necho team-setup\n")
    git(project, "commit", "-qam", "our onboarding step")

    git(template_repo, "rm", "-q", "template/scripts/onboard.sh", "template/notebooks/README.md")
    git(template_repo, "commit", "-qm", "v2 drops two files")
    git(template_repo, "tag", "v2")
    result = run_cli(capsys, "update", "--json", cwd=project)  # the answers' _src_path, newest tag
    assert result.code == 0, result.err
    assert "our own step" in edited.read_text(), "an edited file is never deleted"
    assert not untouched.exists(), "an untouched file the template dropped goes"
    assert json.loads(result.out)["kept"] == ["scripts/onboard.sh"]


def test_an_edited_requirements_txt_becomes_a_migration_step(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Before the lock, each image had requirements.txt. An update to the lock keeps an edited
    one and says which of its pins the lock lacks and the `devenv add` that moves them."""
    old = template_repo / "template/services/{% if include_jupyter %}jupyter{% endif %}/requirements.txt"
    old.write_text("jupyterlab==4.6.6\nmlflow==3.17.2\n")
    git(template_repo, "add", "-A")
    git(template_repo, "commit", "-qm", "v1 with requirements.txt")
    git(template_repo, "tag", "-f", "v1")
    project = make_project(capsys, template_repo, tmp_path / "p")
    ours = project / "services" / "jupyter" / "requirements.txt"
    ours.write_text(ours.read_text() + "polars==1.2.0  # our own\n")
    git(project, "commit", "-qam", "polars")
    git(template_repo, "rm", "-q", str(old.relative_to(template_repo)))
    git(template_repo, "commit", "-qm", "v2: the lock")
    git(template_repo, "tag", "v2")

    result = run_cli(capsys, "update", "--json", cwd=project)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["kept"] == ["services/jupyter/requirements.txt"], "never silently dropped"
    assert report["requirements_to_move"] == {"services/jupyter/requirements.txt": ["polars==1.2.0"]}
    git(project, "reset", "-q", "--hard")  # the same update again, as a person reads it
    git(project, "clean", "-qfd")
    said = run_cli(capsys, "update", cwd=project)
    assert said.code == 0, said.err
    assert "devenv add polars==1.2.0 --group jupyter, then delete it" in " ".join(said.err.split())


def test_update_adds_new_env_keys_and_never_touches_values(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(capsys, template_repo, tmp_path / "p")
    before = read_env(project / ".env")
    release_v2(template_repo, "MLFLOW_BUCKET=mlflow",
               "MLFLOW_BUCKET=mlflow\nNEW_SETTING=on\nNEW_API_TOKEN={{ secret() }}",
               file="template/.env.example.jinja")
    result = run_cli(capsys, "update", cwd=project)
    assert result.code == 0, result.err
    after = read_env(project / ".env")
    assert {k: after[k] for k in before} == before, "every existing value kept"
    assert after["NEW_SETTING"] == "on"
    assert len(after["NEW_API_TOKEN"]) == 40 and after["NEW_API_TOKEN"] != "change-me"
    assert "NEW_API_TOKEN" in result.err
    assert (project / ".env").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("first", "change", "expect"),
    [
        ({}, "object_store=minio", {"OBJECT_STORE_IMAGE": "minio/minio:"}),
        ({"include_jupyter": False}, "include_jupyter=true", {"JUPYTER_PORT": "8888"}),
        ({}, "mlflow_port=6001", {"MLFLOW_PORT": "6001"}),
    ],
)
def test_update_with_a_changed_answer_keeps_env_in_step(  # type: ignore[no-untyped-def]
    capsys, tmp_path: Path, first: dict[str, object], change: str, expect: dict[str, str]
) -> None:
    src = plain_git_template(tmp_path)
    args = [f"-d{k}={str(v).lower()}" for k, v in first.items()]
    project = tmp_path / "p"
    assert run_cli(capsys, "new", str(project), "--defaults", "--template", str(src),
                   "--vcs-ref", "v1", *args).code == 0
    secrets_before = {k: v for k, v in read_env(project / ".env").items() if "PASSWORD" in k}
    result = run_cli(capsys, "update", "-d", change, cwd=project)
    assert result.code == 0, result.err
    env = read_env(project / ".env")
    for key, prefix in expect.items():
        assert env[key].startswith(prefix), (key, env.get(key))
    assert {k: env[k] for k in secrets_before} == secrets_before
    compose_config_ok(project)
    assert ("object store seaweedfs -> minio" in result.err) == change.startswith("object_store")


@pytest.mark.parametrize("conflict", [False, True])
def test_update_never_recreates_a_missing_env(  # type: ignore[no-untyped-def]
    capsys, template_repo: Path, tmp_path: Path, conflict: bool
) -> None:
    project = make_project(capsys, template_repo, tmp_path / "p")
    (project / ".env").unlink()
    if conflict:  # the update stops on a conflict: .env must still not come back
        readme = project / "README.md"
        readme.write_text(readme.read_text().replace("## Daily use", "## Ours", 1))
        git(project, "commit", "-qam", "ours")
    release_v2(template_repo, "## Daily use", "## Daily use (v2)")
    assert run_cli(capsys, "update", cwd=project).code == (6 if conflict else 0)
    assert not (project / ".env").exists(), "new secrets would lock the stack out of its volumes"


def test_a_conflicted_notebook_is_reported(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(capsys, template_repo, tmp_path / "p")
    notebook = project / "notebooks" / "quickstart.ipynb"
    notebook.write_text(notebook.read_text().replace("print(mlflow.get_tracking_uri())",
                                                     "print('ours', mlflow.get_tracking_uri())"))
    git(project, "commit", "-qam", "our notebook")
    release_v2(template_repo, "print(mlflow.get_tracking_uri())",
               "print('v2', mlflow.get_tracking_uri())",
               file="template/notebooks/{% if include_jupyter %}quickstart.ipynb{% endif %}.jinja")
    result = run_cli(capsys, "update", cwd=project)
    assert result.code == 6, result.err
    assert "notebooks/quickstart.ipynb" in result.err
    # ...and `devenv up`'s own scan finds it too, until it is resolved.
    from devenv.core.project import Project
    from devenv.stack.preflight import check_conflicts

    with pytest.raises(Exception, match="quickstart.ipynb"):
        check_conflicts(Project(project)).raise_if_failed()


def test_copier_copy_project_updates_from_its_recorded_source(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A project made with plain `copier copy` (or by a teammate) names its template's git
    source in the answers file: `devenv update` uses it, with no --template."""
    import copier

    project = tmp_path / "p"
    copier.run_copy(str(template_repo), project, defaults=True, vcs_ref="v1", quiet=True)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "from copier copy")
    release_v2(template_repo, "## Daily use", "## Daily use (v2)")
    result = run_cli(capsys, "update", "--json", cwd=project)
    assert result.code == 0, result.err
    assert json.loads(result.out)["to"] == "v2"
    assert "## Daily use (v2)" in (project / "README.md").read_text()


def test_new_records_the_git_url_the_cli_was_installed_from(capsys, template_repo: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """pipx install git+URL@tag: the project's answers point at that URL, so a teammate's
    `devenv update` reaches the template without the creator's cache."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy2(template_repo / "copier.yml", bundle)
    shutil.copytree(template_repo / "template", bundle / "template")
    monkeypatch.setattr(scaffold, "template_root", lambda: bundle)
    commit = git(template_repo, "rev-parse", "v1").strip()
    monkeypatch.setattr(scaffold, "installed_from", lambda: (str(template_repo), commit))
    monkeypatch.setenv("DEVENV_CACHE_DIR", str(tmp_path / "creator-cache"))

    project = tmp_path / "p"
    assert run_cli(capsys, "new", str(project), "--defaults").code == 0
    answers = (project / ".copier-answers.yml").read_text()
    assert f"_src_path: {template_repo}" in answers and f"_commit: {commit}" in answers

    release_v2(template_repo, "## Daily use", "## Daily use (v2)")
    monkeypatch.setenv("DEVENV_CACHE_DIR", str(tmp_path / "teammate-cache"))  # another machine
    result = run_cli(capsys, "update", cwd=project)
    assert result.code == 0, result.err
    assert "## Daily use (v2)" in (project / "README.md").read_text()


def test_update_with_an_unreachable_source_is_one_line(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(capsys, template_repo, tmp_path / "p")
    shutil.rmtree(template_repo)
    result = run_cli(capsys, "update", cwd=project)
    assert result.code == 3, result.err
    assert result.err.startswith("error: template ") and "hint:" in result.err
    assert "Traceback" not in result.err


def test_an_update_that_changes_a_data_image_says_to_back_up_first(capsys, template_repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(capsys, template_repo, tmp_path / "p")
    release_v2(template_repo, "postgres:18.1-bookworm", "postgres:19.0-bookworm",
               "template/compose.yaml.jinja")  # fmt: skip
    result = run_cli(capsys, "update", "--template", str(template_repo), "--vcs-ref", "v2",
                     "--json", cwd=project)  # fmt: skip
    assert result.code == 0, result.err
    moved = json.loads(result.out)["data_images_changed"]
    assert list(moved) == ["postgres"] and moved["postgres"][1].endswith("postgres:19.0-bookworm}")
    plain = run_cli(capsys, "update", "--template", str(template_repo), "--vcs-ref", "v2",
                    cwd=project)  # fmt: skip
    assert "back up" not in plain.err  # nothing changed the second time


def test_update_backup_needs_the_stack_running(capsys, template_repo: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """--backup goes through the running services: with no engine it stops before updating."""
    project = make_project(capsys, template_repo, tmp_path / "p")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    release_v2(template_repo, "## Daily use", "## Daily use (v2)")
    result = run_cli(capsys, "update", "--backup", "--template", str(template_repo),
                     "--vcs-ref", "v2", cwd=project)  # fmt: skip
    assert result.code == 10, result.err
    assert "_commit: v1" in (project / ".copier-answers.yml").read_text(), "not updated"
