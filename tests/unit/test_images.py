"""devenv images: which images, which tag, which registry; refusals before anything is pushed.
The registry API itself is exercised against a real registry in tests/e2e/test_registry.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devenv.core.errors import UnknownServiceError, UsageError
from devenv.release import images
from tests.unit.fakes import FakeEngine

CONFIG = {
    "name": "proj",
    "services": {
        "mlflow": {"build": {"context": "."}, "image": "proj-mlflow:local"},
        # A one-shot on MLflow's image: the image is named after the long-running service.
        "bucket-init": {
            "build": {"context": "."},
            "image": "proj-mlflow:local",
            "labels": {"devenv.oneshot": "true"},
        },
        "serving": {"build": {"context": "."}, "image": "proj-serving:local"},
        "registry": {"build": {"context": "."}, "image": "proj-registry:local"},
        "postgres": {"image": "postgres:18"},
    },
}


def test_built_images_are_ours_once_each_without_the_registry(tmp_path: Path) -> None:
    found = images.built_images(FakeEngine(tmp_path, CONFIG))
    assert found == {"mlflow": "proj-mlflow:local", "serving": "proj-serving:local"}


@pytest.mark.parametrize("name", ["dev", "staging", "prod-eu1"])
def test_stage_names_accepted(name: str) -> None:
    assert images.check_stage(name) == name


@pytest.mark.parametrize("name", ["Prod", "1st", "", "a b", "x" * 40, "dev;rm"])
def test_stage_names_refused_with_a_hint(name: str) -> None:
    with pytest.raises(UsageError) as raised:
        images.check_stage(name)
    assert "dev, staging" in (raised.value.hint or "")


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(root), *args],
        check=True,
        capture_output=True,
    )


def test_source_tag_is_the_commit_and_says_when_the_tree_is_dirty(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no git commit"):
        images.source_tag(tmp_path)
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("a")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "a")
    clean = images.source_tag(tmp_path)
    assert len(clean) == 12 and int(clean, 16) >= 0
    (tmp_path / "a.txt").write_text("b")
    assert images.source_tag(tmp_path) == f"{clean}-dirty"


def test_registry_address_from_env_or_flag(tmp_path: Path) -> None:
    engine = FakeEngine(tmp_path, CONFIG)
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=proj\n")
    with pytest.raises(UsageError, match="REGISTRY_PORT"):
        images.registry_for(engine, None)
    assert images.registry_for(engine, "registry.example:5000").url == (
        "http://registry.example:5000/v2"
    )
    (tmp_path / ".env").write_text("REGISTRY_PORT=5051\n")
    assert images.registry_for(FakeEngine(tmp_path, CONFIG), None).address == "localhost:5051"


def test_push_refuses_unknown_and_unbuilt_images_before_anything(tmp_path: Path) -> None:
    engine = FakeEngine(tmp_path, CONFIG)
    (tmp_path / ".env").write_text("REGISTRY_PORT=5051\n")

    def never(*_: object) -> None:
        raise AssertionError("nothing may be pushed or started")

    # A name that builds no image is an unknown service (exit 12, as docs/cli.md says; was 2).
    with pytest.raises(UnknownServiceError, match="no image built for nope") as raised:
        images.push(engine, ["nope"], address=None, tag=None, on_step=never, on_progress=never)
    assert "mlflow, serving" in (raised.value.hint or "")
    with pytest.raises(UsageError, match="not built yet: serving"):
        images.push(engine, ["serving"], address=None, tag="v1", on_step=never, on_progress=never)
    with pytest.raises(UsageError, match="another stage"):
        images.promote(engine, "dev", "dev", address=None)


@pytest.mark.parametrize("tag", ["-x", "a b", "x" * 129, "v1:2"])
def test_a_bad_tag_is_refused_before_anything(tmp_path: Path, tag: str) -> None:
    engine = FakeEngine(tmp_path, CONFIG)
    engine.images = {"proj-serving:local": "sha256:1"}

    def never(*_: object) -> None:
        raise AssertionError("nothing may be pushed or started")

    with pytest.raises(UsageError, match="not a valid image tag"):
        images.push(engine, ["serving"], address=None, tag=tag, on_step=never, on_progress=never)


class Pushing(FakeEngine):
    """Records tags and pushes; docker's own digest for what it pushed."""

    def image_tag(self, source: str, target: str) -> None:
        self.images[target] = self.images[source]

    def image_push(self, tag: str) -> None:
        self.calls.append(("push", tag))

    def repo_digests(self, reference: str) -> list[str]:
        return [f"{reference.rpartition(':')[0]}@sha256:{'b' * 64}"]


def test_push_to_the_team_registry_adds_the_content_tag_and_asks_docker_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMAGE_REGISTRY on a remote host: docker pushes (its login), no plain-HTTP API call."""
    from devenv.core import http
    from devenv.stack import pull

    def no_http(*_: object, **__: object) -> None:
        raise AssertionError("a remote registry is docker's to talk to")

    monkeypatch.setattr(http, "request", no_http)
    monkeypatch.setattr(images, "write_sbom", lambda *a: images.Result("sbom", "skip", "no"))
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "Dockerfile").write_text("FROM python:3.12-slim\n")
    config = {
        "name": "proj",
        "services": {
            "serving": {
                "build": {"context": str(tmp_path / "serving")},
                "image": "proj-serving:local",
            }
        },
    }
    (tmp_path / ".env").write_text("REGISTRY_PORT=5051\n")
    (tmp_path / ".env.example").write_text("IMAGE_REGISTRY=ghcr.io/acme/proj\n")
    engine = Pushing(tmp_path, config)
    (plan,) = pull.plans(engine, {"serving"})
    # What devenv up leaves: the image, and its content tag naming the same image.
    engine.images = {"proj-serving:local": "sha256:1", plan.marker: "sha256:1"}
    (result,) = images.push(
        engine, [], address=None, tag="v1", on_step=lambda r: None, on_progress=lambda p: None
    )
    repo = "ghcr.io/acme/proj/serving"
    assert [c[1] for c in engine.calls if c[0] == "push"] == [
        f"{repo}:v1",
        f"{repo}:dev",
        f"{repo}:{plan.tag}",
    ]
    assert result.data["digest"] == "sha256:" + "b" * 64
    assert result.data["content_tag"] == plan.tag and result.status == "ok"

    # The files changed since: that image is not what they make, so no content tag for it.
    (tmp_path / "serving" / "app.py").write_text("print('new')\n")
    engine.calls.clear()
    (stale,) = images.push(
        engine, [], address=None, tag="v2", on_step=lambda r: None, on_progress=lambda p: None
    )
    assert [c[1] for c in engine.calls if c[0] == "push"] == [f"{repo}:v2", f"{repo}:dev"]
    assert stale.status == "warn" and "no content tag" in stale.detail
    assert stale.data["content_tag"] is None and "devenv up" in (stale.fix or "")


def test_push_refuses_a_malformed_team_registry(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REGISTRY_PORT=5051\n")
    (tmp_path / ".env.example").write_text("IMAGE_REGISTRY=https://ghcr.io/acme\n")
    engine = FakeEngine(tmp_path, CONFIG)
    engine.images = {"proj-serving:local": "sha256:1"}

    def never(*_: object) -> None:
        raise AssertionError("nothing may be pushed or started")

    with pytest.raises(UsageError, match="has a scheme"):
        images.push(engine, ["serving"], address=None, tag="v1", on_step=never, on_progress=never)
