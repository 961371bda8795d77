"""A new hire pulls the team's images instead of building them, on the real engine.

The creator builds the stack cold (BuildKit's cache emptied first: a new laptop has none) and
pushes its images to the project's own registry (profile `registry`, standing in for the
team's), which `.env.example` names as IMAGE_REGISTRY. The creator's project images are then
deleted, so their layers must travel again. A teammate's clean clone computes the same content
tags, and `devenv up` pulls every image and builds none. A one-line change to the serving app
then rebuilds serving only, with and without the team's layer cache. Cold build and cold pull
are timed side by side in this one run.
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

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.cold_build_cache]

# Pins new to the serving image, as its lock carries them (pip --require-hashes): PyPI's wheels.
TOMLI_W = [
    "tomli-w==1.1.0 --hash=sha256:1403179c78193e3184bfaade390ddbd071cba48a32a2e62ba11aae47490c63f7",
    "tomli-w==1.2.0 --hash=sha256:188306098d013b691fcadc011abd66727d3c414c571bb01b1a174ba8c983cf90",
]


def up(root: Path, *args: str) -> tuple[dict, float]:  # type: ignore[type-arg]
    started = time.monotonic()
    done = devenv_cli(root, "up", "--json", *args)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout), time.monotonic() - started


def how(report: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {image["service"]: image["how"] for image in report["images"]}


def how_pulled(report: dict, service: str) -> dict:  # type: ignore[type-arg]
    (image,) = [i for i in report["images"] if i["service"] == service]
    return image  # type: ignore[no-any-return]


def layers(image: str) -> list[str]:
    done = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{json .RootFS.Layers}}", image],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return list(json.loads(done.stdout))


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
        origin = {r["name"]: r["data"]["image"] for r in json.loads(status.stdout)["results"]}
        assert origin["serving"]["how"] == "pulled"
        assert origin["serving"]["digest"] == how_pulled(pulled, "serving")["digest"]
        pulled_ref = how_pulled(pulled, "serving")["source"]

        # A teammate's edits on a laptop whose build cache is empty (only the pulled images):
        # each rebuilds serving alone, with the team's layer cache and without (--offline).
        serving = teammate / "services" / "serving"
        original_app = (serving / "app" / "main.py").read_text()
        figures = {}
        for what, path, line in [
            ("one-line app change", serving / "app" / "main.py", "# a teammate's edit {n}\n"),
            ("one pin added", serving / "requirements.lock", "{pin}\n"),
        ]:
            original = path.read_text()
            for n, cached in enumerate((True, False), start=6):
                path.write_text(original + line.format(n=n, pin=TOMLI_W[n - 6]))
                changed = tags(teammate)
                assert {k for k in content if changed[k] != content[k]} == {"serving"}
                subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
                again, seconds = up(teammate, *(() if cached else ("--offline",)))
                expected = {**{k: "cached" for k in content}, "serving": "built"}
                assert how(again) == expected, how(again)
                figures[what, cached] = seconds
                if what.startswith("one-line"):
                    # With the team's cache every layer but the app's is reused, not rebuilt;
                    # without, the virtualenv is rebuilt too (pip's .pyc files never give
                    # the same digest twice).
                    new, old = layers(f"{name}-serving:local"), layers(pulled_ref)
                    assert len(new) == len(old)
                    differ = sum(a != b for a, b in zip(new, old, strict=True))
                    assert differ == 1 if cached else differ > 1, (cached, new, old)
            path.write_text(original)

        # A registry that does not answer never blocks work: one warning line, a local build.
        with (teammate / ".env").open("a") as env:
            env.write(f"IMAGE_REGISTRY=localhost:{free_port()}/{creator.name}\n")
        (serving / "app" / "main.py").write_text(original_app + "# offline day\n")
        down_day, _ = up(teammate)
        assert how(down_day)["serving"] == "built"
        (warning,) = down_day["warnings"]
        assert "not answering" in warning and "building locally" in warning, warning

        print(
            f"cold onboarding, same machine: build {build_seconds:.0f}s vs pull "
            f"{pull_seconds:.0f}s (pull = {pull_seconds / build_seconds:.0%} of build); "
            + "; ".join(
                f"{what}: {figures[what, True]:.0f}s with the team's cache vs "
                f"{figures[what, False]:.0f}s without"
                for what in ("one-line app change", "one pin added")
            )
        )
