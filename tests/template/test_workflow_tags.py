"""The generated CI workflow names each image by the same content tag as `devenv up`: its step
runs here as GitHub runs it (bash, GITHUB_OUTPUT), with this checkout's devenv on PATH, and
must agree with devenv's own answer, build arguments included."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from devenv.core.project import Project
from devenv.docker.engine import Engine
from devenv.release.images import content_tags


def step(project: Path, name: str) -> str:
    workflow = yaml.safe_load((project / ".github/workflows/images.yml").read_text())
    (found,) = [s for s in workflow["jobs"]["build"]["steps"] if s.get("name", "").startswith(name)]
    return str(found["run"])


def test_the_workflow_computes_devenv_s_content_tag(render, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = render({"gpu": "none"})
    docker = shutil.which("docker")
    assert docker, "the docker CLI resolves compose's configuration"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `docker info` answers (onboard.sh asks); compose itself is the real one, no engine needed.
    (bin_dir / "docker").write_text(f'#!/bin/sh\n[ "$1" = info ] && exit 0\nexec {docker} "$@"\n')
    (bin_dir / "docker").chmod(0o755)
    output = tmp_path / "github-output"
    env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(Path.home() / ".docker"),  # where compose may be installed
        "IMAGE": "serving",
        "GITHUB_REPOSITORY": "Acme/Proj",
        "GITHUB_SHA": "0123abc",
        "GITHUB_OUTPUT": str(output),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", step(project, "Name the image")],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = dict(line.split("=", 1) for line in output.read_text().splitlines())

    (plan,) = content_tags(Engine(Project(project), profiles=["*"]), ["serving"])
    assert said["content"] == plan.tag
    assert said["repo"] == "ghcr.io/acme/proj/serving", "GHCR names are lower case"
    assert Path(said["context"]) == plan.spec.context
    args = (project / "build-args.txt").read_text().splitlines()
    assert args == [f"--build-arg={k}={v}" for k, v in sorted(plan.spec.args.items())]
    assert any(a.startswith("--build-arg=PYTHON_IMAGE=python:") for a in args)
    assert json.loads((project / "image.json").read_text())["images"][0]["service"] == "serving"
