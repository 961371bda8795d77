"""The registry profile on the real engine: push the serving image by git SHA, promote dev to
staging by digest through the registry's API, pull it back by digest: the same image. Bad
input first: nothing may be pushed or started."""

from __future__ import annotations

import json
import subprocess

import pytest

from devenv.release.images import Registry
from tests.e2e.conftest import Stack
from tests.helpers import run_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def git(root, *args: str) -> str:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_push_promote_and_pull_back_by_digest(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    root, engine = project_dir.root, project_dir.engine
    registry = Registry(f"localhost:{project_dir.port('REGISTRY_PORT')}")

    unbuilt = run_cli(capsys, "images", "push", "serving", cwd=root)
    assert unbuilt.code == 2 and "not built yet" in unbuilt.err, unbuilt.err
    unknown = run_cli(capsys, "images", "push", "nope", cwd=root)
    assert unknown.code == 12 and "no image built for nope" in unknown.err, "an unknown service"
    assert "serving" in unknown.err, "the hint lists the images there are"
    no_registry = run_cli(capsys, "images", "promote", "dev", "staging", cwd=root)
    assert no_registry.code == 23 and "no registry answers" in no_registry.err
    assert not registry.responds() and not (root / ".devenv").exists(), "nothing started"

    built = project_dir.compose("build", "serving")
    assert built.returncode == 0, built.stderr[-2000:]
    not_a_repo = run_cli(capsys, "images", "push", "serving", cwd=root)
    assert not_a_repo.code == 2 and "no git commit" in not_a_repo.err
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "project")
    sha = git(root, "rev-parse", "--short=12", "HEAD")

    pushed = run_cli(capsys, "images", "push", "serving", "--json", cwd=root)
    assert pushed.code == 0, pushed.err
    result = json.loads(pushed.out)["results"][0]
    digest, remote = result["data"]["digest"], result["data"]["repository"]
    assert result["data"]["tag"] == sha and digest.startswith("sha256:")
    assert registry.digest(f"{project_dir.name}/serving", "dev") == digest
    sbom = json.loads((root / result["data"]["sbom"]["data"]["path"]).read_text())
    assert sbom["bomFormat"] == "CycloneDX" and len(sbom["components"]) > 50
    record = json.loads((root / ".devenv" / "images.json").read_text())
    assert record["images"]["serving"]["tags"] == {sha: digest, "dev": digest}

    promoted = run_cli(capsys, "images", "promote", "dev", "staging", "--json", cwd=root)
    assert promoted.code == 0, promoted.err
    assert json.loads(promoted.out)["results"][0]["data"]["digest"] == digest
    assert registry.digest(f"{project_dir.name}/serving", "staging") == digest

    # Pull back by digest with no local copy of the pushed tags: the very image compose built.
    local_id = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", f"{project_dir.name}-serving:local"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for tag in (sha, "dev"):
        engine.image_remove(f"{remote}:{tag}")
    pulled_id = engine.image_pull(f"{remote}@{digest}")
    assert pulled_id == local_id
    assert f"{remote}@{digest}" in engine.repo_digests(f"{remote}@{digest}")
