"""The new hire's real path: a teammate clones the team's project onto a machine with only
Python, git and Docker, runs `scripts/onboard.sh`, and ends with a served model.

The creator makes the project from a tagged git repository of ml-devenv (what a team's fork or
GitHub is), commits it with the team's image mirror in `.env.example`, and pushes it to a bare
repository. The teammate has a clean HOME, no devenv, and a PATH without pipx's or uv's bin
folder: the script must install the CLI from the source the project records and find it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from devenv.core.envfile import read_env
from devenv.scaffold.template import template_root
from tests.e2e.conftest import PORT_KEYS, free_port
from tests.helpers import git, run_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]
REPO = template_root()


def release_repo(dest: Path) -> str:
    """What the team installs the CLI from: ml-devenv's sources at a release tag."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "copier.yml"):
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "template", dest / "template", ignore=ignore)
    shutil.copytree(REPO / "src", dest / "src", ignore=ignore)
    from devenv import __version__ as version

    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", f"ml-devenv {version}")
    git(dest, "tag", f"v{version}")
    return f"v{version}"


def clean_machine(home: Path) -> dict[str, str]:
    """Only Python, git and Docker: no devenv, no pipx bin folder on PATH, an empty HOME."""
    home.mkdir()
    plugin = Path.home() / ".docker" / "cli-plugins" / "docker-compose"
    if plugin.exists():  # Docker as installed for this user: compose v2 comes with it
        (home / ".docker" / "cli-plugins").mkdir(parents=True)
        (home / ".docker" / "cli-plugins" / "docker-compose").symlink_to(plugin.resolve())
    docker = shutil.which("docker")
    assert docker, "the docker CLI is needed"
    path = os.pathsep.join(
        [str(Path(sys.base_prefix) / "bin"), str(Path(docker).parent), "/usr/bin", "/bin"]
    )
    assert shutil.which("devenv", path=path) is None, "devenv must not be installed yet"
    keep = ("DOCKER_HOST", "LANG", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    return {**env, "HOME": str(home), "PATH": path}


def test_teammate_clones_and_onboards_to_a_served_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kit_overrides: str
) -> None:
    tag = release_repo(tmp_path / "ml-devenv")
    creator = tmp_path / "creator"
    made = run_cli(
        capsys,
        "new",
        str(creator),
        "--defaults",
        "--template",
        str(tmp_path / "ml-devenv"),
        "--vcs-ref",
        tag,
        "-d",
        "gpu=none",
    )
    assert made.code == 0, made.err
    # The team's settings live in .env.example (committed): their image mirror, and here a
    # unique name and free ports so this stack runs beside the other tests' stacks.
    name = f"devenv-e2e-{uuid.uuid4().hex[:8]}"
    extra = "".join(f"{key}={free_port()}\n" for key in PORT_KEYS)
    example = creator / ".env.example"
    example.write_text(
        example.read_text() + "\n" + kit_overrides + extra + f"COMPOSE_PROJECT_NAME={name}\n"
    )
    git(creator, "commit", "-qam", "team image mirror")
    git(tmp_path, "clone", "-q", "--bare", str(creator), "team.git")

    teammate = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(tmp_path / "team.git"), str(teammate))
    assert not (teammate / ".env").exists(), ".env is git-ignored: a clone has none"
    env = clean_machine(tmp_path / "home")

    def onboard() -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        done = subprocess.run(
            ["sh", "scripts/onboard.sh", "--json"],
            cwd=teammate,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return done, time.monotonic() - started

    try:
        first, seconds = onboard()
        report = json.loads(first.stdout)
        phases = {p["name"]: p["status"] for p in report["results"]}
        assert phases["project"] == "ok" and phases["up"] == "ok"
        assert phases["smoke"] == "ok", "a served model at the end"
        assert "Installing the devenv CLI" in first.stderr

        ours, theirs = read_env(teammate / ".env"), read_env(creator / ".env")
        assert (teammate / ".env").stat().st_mode & 0o777 == 0o600
        for key in ("POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "S3_SECRET_KEY", "JUPYTER_TOKEN"):
            assert ours[key] and ours[key] != "change-me" and ours[key] != theirs[key], key
        assert ours["OBJECT_STORE_IMAGE"] == read_env(example)["OBJECT_STORE_IMAGE"]

        again, again_seconds = onboard()
        assert "Installing" not in again.stderr, "the CLI installed last time is found"
        phases = {p["name"]: p["status"] for p in json.loads(again.stdout)["results"]}
        assert phases["up"] == "skip" and phases["smoke"] == "skip"
        print(
            f"teammate onboarding: {seconds:.0f}s cold (CLI install + "
            + ", ".join(f"{p['name']} {p['seconds']:.0f}s" for p in report["results"])
            + f"); re-run {again_seconds:.0f}s"
        )
    finally:
        subprocess.run(
            [
                "docker",
                "compose",
                "-p",
                name,
                "--project-directory",
                str(teammate),
                "down",
                "-v",
                "--remove-orphans",
            ],
            capture_output=True,
            env={**os.environ},
            check=False,
        )
