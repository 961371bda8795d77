"""A new hire pulls the team's images instead of building them, on the real engine.

The creator builds the stack cold (BuildKit's cache emptied first: a new laptop has none) and
pushes its images to the project's own registry (profile `registry`, standing in for the
team's), which `.env.example` names as IMAGE_REGISTRY. The creator's project images are then
deleted, so their layers must travel again. A teammate's clean clone computes the same content
tags, and `devenv up` pulls every image and builds none. A one-line change to the serving app
then rebuilds serving only. Cold build and cold pull are timed side by side in this one run.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.core import envfile
from tests.e2e.conftest import (
    PORT_KEYS,
    Stack,
    cleaned_up,
    devenv_cli,
    free_port,
    new_stack,
    unique_name,
)
from tests.helpers import git

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def up(root: Path, *args: str) -> tuple[dict, float]:  # type: ignore[type-arg]
    started = time.monotonic()
    done = devenv_cli(root, "up", "--json", *args)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout), time.monotonic() - started


def how(report: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {image["service"]: image["how"] for image in report["images"]}


def tags(root: Path) -> dict[str, str]:
    done = devenv_cli(root, "images", "tags", "--json")
    assert done.returncode == 0, done.stderr
    return {i["service"]: i["tag"] for i in json.loads(done.stdout)["images"]}


@pytest.fixture(scope="module")
def creator(tmp_path_factory: pytest.TempPathFactory, kit_overrides: str) -> Iterator[Stack]:
    with cleaned_up(new_stack(tmp_path_factory, kit_overrides, {"gpu": "none"})) as s:
        yield s


def test_a_teammate_pulls_what_the_creator_pushed_and_rebuilds_only_what_changed(
    creator: Stack, tmp_path: Path, kit_overrides: str
) -> None:
    root = creator.root
    registry = f"localhost:{creator.port('REGISTRY_PORT')}/{creator.name}"
    # The team's settings, committed: the kit's base images (the team's mirror) and the
    # registry that CI fills.
    example = root / ".env.example"
    example.write_text(example.read_text() + "\n" + kit_overrides + f"IMAGE_REGISTRY={registry}\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "project")

    # A creator with an empty build cache and nothing pushed yet: every image is built.
    subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True, check=True)
    built, build_seconds = up(root, "--offline")
    assert set(how(built).values()) == {"built"}, how(built)
    print(f"creator's cold build: {built['images']}")

    pushed = devenv_cli(root, "images", "push", *how(built), "--json")
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    content = {r["name"]: r["data"]["content_tag"] for r in json.loads(pushed.stdout)["results"]}
    assert content == {k: v for k, v in tags(root).items() if k in content}

    # The creator's images go (the stack down, its registry kept up): their layers are only in
    # the registry now, as for a new laptop. The kit's base images stay, for both paths.
    creator.compose("stop").check_returncode()
    creator.compose("--profile", "registry", "up", "-d", "--wait", "registry").check_returncode()
    creator.compose("rm", "-f").check_returncode()
    images = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    mine = [i for i in images if i.startswith((f"{creator.name}-", f"{registry}/"))]
    mine = [i for i in mine if not i.startswith(f"{creator.name}-registry:")]
    subprocess.run(["docker", "image", "rm", *mine], capture_output=True, check=True)

    teammate = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(root), str(teammate))
    envfile.ensure(teammate, volumes=())
    name = unique_name()
    ports = "".join(f"{key}={free_port()}\n" for key in PORT_KEYS)
    with (teammate / ".env").open("a") as env:
        env.write(f"\n{ports}COMPOSE_PROJECT_NAME={name}\n")
    mate = Stack(teammate, name)
    with cleaned_up(mate):
        assert tags(teammate) == tags(root), "two clones of one commit name the same images"
        pulled, pull_seconds = up(teammate)
        assert set(how(pulled).values()) == {"pulled"}, how(pulled)
        for image in pulled["images"]:
            assert image["source"] == f"{registry}/{image['service']}:{content[image['service']]}"
            assert image["digest"].startswith("sha256:")
        assert all(r["status"] == "ok" for r in pulled["results"]), pulled["results"]
        status = devenv_cli(teammate, "status", "--json")
        assert status.returncode == 0, status.stderr

        # One line of the serving app changes: only serving's tag and image change.
        app = teammate / "services" / "serving" / "app" / "main.py"
        app.write_text(app.read_text() + "\n# a teammate's one-line change\n")
        changed = tags(teammate)
        assert {k for k in content if changed[k] != content[k]} == {"serving"}
        again, rebuild_seconds = up(teammate)
        assert how(again) == {**{k: "cached" for k in content}, "serving": "built"}, how(again)

        print(
            f"cold onboarding, same machine: build {build_seconds:.0f}s vs pull "
            f"{pull_seconds:.0f}s (pull = {pull_seconds / build_seconds:.0%} of build); "
            f"one-line serving change: {rebuild_seconds:.0f}s"
        )
