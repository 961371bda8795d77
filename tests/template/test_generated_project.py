"""A rendered project passes its own checks, the copier-uv way: its ruff configuration, mypy,
its tests (training a model, serving it, 422s; a SQLite MLflow, no stack) and its pre-commit
hooks, in each variant that changes its Python. The same tests inside the JupyterLab image
(`devenv test`) and in a Dev Container: tests/e2e/test_lifecycle.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

BIN = Path(sys.executable).parent
VARIANTS = {
    "defaults": {},
    "no-serving": {"include_serving": False},
}


def run(root: Path, *command: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run(
        command, cwd=root, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def project(request: pytest.FixtureRequest, render: Any) -> Path:
    root: Path = render({"project_name": "Own Checks", **VARIANTS[request.param]})
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)  # pre-commit works on git files
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", *identity, "commit", "-qm", "rendered"], cwd=root, check=True)
    return root


def test_ruff_and_mypy_pass_with_the_projects_own_configuration(project: Path) -> None:
    for command in (("ruff", "check", "."), ("ruff", "format", "--check", ".")):
        done = run(project, str(BIN / command[0]), *command[1:])
        assert done.returncode == 0, done.stdout + done.stderr
    folders = [p for p in ("src", "tests", "services/serving/app", "services/mlflow")
               if (project / p).is_dir()]  # fmt: skip
    typed = run(project, str(BIN / "mypy"), *folders)
    assert typed.returncode == 0, typed.stdout


def test_the_projects_tests_pass(project: Path) -> None:
    done = run(project, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    count = int(re.search(r"(\d+) passed", done.stdout).group(1))  # type: ignore[union-attr]
    assert count >= (6 if (project / "services" / "serving").is_dir() else 2), done.stdout


def test_pre_commit_passes_on_a_fresh_project_and_strips_notebook_outputs(project: Path) -> None:
    hooks = str(BIN / "pre-commit")
    clean = run(project, hooks, "run", "--all-files", timeout=900)
    assert clean.returncode == 0, clean.stdout[-4000:]
    status = run(project, "git", "status", "--porcelain")
    assert status.stdout == "", "a fresh project is already as its hooks want it"

    notebook = project / "notebooks" / "quickstart.ipynb"
    data = json.loads(notebook.read_text())
    data["cells"][0 if data["cells"][0]["cell_type"] == "code" else 1]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": ["a secret row\n"]}
    ]
    notebook.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (project / "src" / "crlf.py").write_bytes(b"x = 1\r\ny = 2\n")
    run(project, "git", "add", "-A")  # as a commit would: the hooks see staged files
    dirty = run(project, hooks, "run", "--all-files", timeout=900)
    assert dirty.returncode == 1, "the hooks fixed files: the commit stops for a look"
    assert "a secret row" not in notebook.read_text()
    assert b"\r" not in (project / "src" / "crlf.py").read_bytes()


def test_dev_container_attaches_to_the_jupyter_service_with_the_project_mounted(
    project: Path,
) -> None:
    text = (project / ".devcontainer" / "devcontainer.json").read_text()
    config = json.loads("\n".join(re.sub(r"^\s*//.*$", "", line) for line in text.splitlines()))
    assert config["service"] == "jupyter" and config["shutdownAction"] == "none"
    assert config["overrideCommand"] is False, "JupyterLab keeps running as its service does"
    compose_file = project / ".devcontainer" / config["dockerComposeFile"]
    assert compose_file.resolve() == (project / "compose.yaml").resolve(), "the stack itself"
    jupyter = yaml.safe_load(compose_file.read_text())["services"]["jupyter"]
    assert f".:{config['workspaceFolder']}" in jupyter["volumes"], "the whole project mounted"
    extensions = config["customizations"]["vscode"]["extensions"]
    assert {"ms-python.python", "ms-toolsai.jupyter"} <= set(extensions)


def test_one_lock_feeds_every_image_and_devenv_add_agrees_with_the_hooks(project: Path) -> None:
    """uv.lock matches pyproject.toml and each image's requirements.lock matches uv.lock; a
    hand edit of a lock file is caught; `devenv add` re-resolves (PyPI) and writes exactly what
    the project's own pre-commit hooks would."""
    devenv = str(BIN / "devenv")
    fresh = run(project, devenv, "lock", "--check")
    assert fresh.returncode == 0, fresh.stderr
    lock = project / "services" / "jupyter" / "requirements.lock"
    original = lock.read_text()
    lock.write_text(original.replace("mlflow==", "mlflow===", 1))
    stale = run(project, devenv, "lock", "--check")
    lock.write_text(original)
    assert stale.returncode == 2 and "do not match uv.lock" in stale.stderr, stale.stderr
    if not (project / "services" / "serving").is_dir():
        return
    added = run(project, devenv, "add", "tomli-w==1.2.0", "--group", "serving", "--json")
    try:
        assert added.returncode == 0, added.stderr
        assert sorted(json.loads(added.stdout)["exported"]) == [
            "services/jupyter/requirements.lock", "services/serving/requirements.lock"
        ]
        assert "tomli-w==1.2.0 \\" in (project / "services/serving/requirements.lock").read_text()
        run(project, "git", "add", "-A")
        hooks = run(project, str(BIN / "pre-commit"), "run", "--all-files", timeout=900)
        assert hooks.returncode == 0, hooks.stdout[-3000:]
    finally:
        run(project, "git", "reset", "-q", "--hard")
