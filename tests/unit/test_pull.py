"""`up`'s images: cached, pulled or built, and a registry that cannot serve never blocks work.
docker's answers here are the CLI's own words (as python-on-whales hands them on); the real
registry round trip is tests/e2e/test_image_cache.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devenv.core import http
from devenv.core.errors import DockerCommandError
from devenv.docker.records import EngineInfo, ImageFacts
from devenv.stack import pull
from tests.unit.fakes import FakeEngine

REGISTRY = "registry.corp:5000/team/proj"


class Engine(FakeEngine):
    info = EngineInfo({"Architecture": "x86_64"})

    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        super().__init__(root, config)
        self.pull_error: str | None = None  # docker's stderr for every pull
        self.arch = "amd64"
        self.pulled: list[str] = []
        self.removed: list[str] = []

    def image_tag(self, source: str, target: str) -> None:
        self.images[target] = self.images[source]

    def image_pull(self, reference: str) -> str:
        self.pulled.append(reference)
        if self.pull_error:
            raise DockerCommandError(self.pull_error.splitlines()[-1], stderr=self.pull_error)
        self.images[reference] = f"id-{reference}"
        return self.images[reference]

    def image_facts(self, reference: str) -> ImageFacts | None:
        repository = reference.rpartition(":")[0]
        return ImageFacts(
            self.images[reference], self.arch, 123_000_000, (f"{repository}@sha256:{'a' * 64}",)
        )

    def image_remove(self, reference: str) -> None:
        self.removed.append(reference)
        self.images.pop(reference, None)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("mlflow", "serving"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(f"FROM python:3.12-slim\n# {name}\n")
    (tmp_path / ".env").write_text("")
    (tmp_path / ".env.example").write_text(f"IMAGE_REGISTRY={REGISTRY}\n")
    return tmp_path


@pytest.fixture
def registry_answers() -> Iterator[list[str]]:
    """The registry's /v2/ answers 401 (it wants docker's login): it is there."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED"}]})

    http.use_transport(httpx.MockTransport(answer))
    yield asked
    http.use_transport(None)


def engine(root: Path) -> Engine:
    config = {
        "name": "proj",
        "services": {
            name: {"image": f"proj-{name}:local", "build": {"context": str(root / name)}}
            for name in ("mlflow", "serving")
        },
    }
    config["services"]["bucket-init"] = {
        **config["services"]["mlflow"],
        "labels": {"devenv.oneshot": "true"},
    }
    return Engine(root, config)


def settle(e: Engine, **kw: Any) -> tuple[dict[str, str], list[str]]:
    warnings: list[str] = []
    found = pull.plans(e, set(e.config["services"]))
    pull.settle(
        e,
        found,
        force_build=kw.get("force_build", False),
        offline=kw.get("offline", False),
        warn=warnings.append,
        on_pull=lambda plan: None,
    )
    return {p.service: p.how for p in found}, warnings


def test_missing_images_are_pulled_by_content_tag_and_tagged_for_compose(
    project: Path, registry_answers: list[str]
) -> None:
    e = engine(project)
    hows, warnings = settle(e)
    assert hows == {"mlflow": "pulled", "serving": "pulled"} and warnings == []
    assert registry_answers == ["https://registry.corp:5000/v2/"]
    plans = {p.service: p for p in pull.plans(e, {"mlflow", "serving"})}
    assert sorted(e.pulled) == sorted(f"{REGISTRY}/{s}:{p.tag}" for s, p in plans.items())
    assert e.images["proj-serving:local"] == e.images[plans["serving"].marker]


def test_images_already_made_from_these_inputs_are_not_pulled(
    project: Path, registry_answers: list[str]
) -> None:
    e = engine(project)
    settle(e)
    e.pulled.clear()
    hows, _ = settle(e)
    assert hows == {"mlflow": "cached", "serving": "cached"} and e.pulled == []
    assert len(registry_answers) == 1, "nothing to pull: the registry is not even asked"


def test_one_changed_context_pulls_only_that_image(
    project: Path, registry_answers: list[str]
) -> None:
    e = engine(project)
    settle(e)
    (project / "serving" / "Dockerfile").write_text("FROM python:3.12-slim\n# changed\n")
    e.pull_error = "Error response from daemon: manifest unknown: manifest unknown"
    hows, warnings = settle(e)
    assert hows == {"mlflow": "cached", "serving": "build"}
    assert warnings == [], "a tag not pushed yet is the normal case: build, no warning"


DAEMON = "Error response from daemon: "
FAILURES = [
    (DAEMON + "unauthorized: authentication required", "denied access"),
    (DAEMON + "pull access denied for x, repository does not exist", "denied access"),
    ("no matching manifest for linux/amd64 in the manifest list entries", "another architecture"),
    (DAEMON + "received unexpected HTTP status: 500 Internal Server Error", "pulling"),
    ("error pulling image configuration: blob unknown: blob unknown to registry", "incomplete"),
    ('Get "https://r.corp/v2/": http: server gave HTTP response to HTTPS client', "plain HTTP"),
]


@pytest.mark.parametrize(("said", "why"), FAILURES)
def test_each_registry_failure_is_one_warning_and_a_local_build(
    project: Path, registry_answers: list[str], said: str, why: str
) -> None:
    e = engine(project)
    e.pull_error = said
    hows, warnings = settle(e)
    assert hows == {"mlflow": "build", "serving": "build"}
    assert all(why in w and "locally" in w and "\n" not in w for w in warnings), warnings
    # An answer about the registry (access, TLS) is said once and not asked again per image.
    whole = why in ("denied access", "plain HTTP")
    assert (len(warnings), len(e.pulled)) == ((1, 1) if whole else (2, 2))


def test_an_image_for_another_architecture_is_removed_and_built(
    project: Path, registry_answers: list[str]
) -> None:
    e = engine(project)
    e.arch = "arm64"
    hows, warnings = settle(e)
    assert hows == {"mlflow": "build", "serving": "build"}
    assert "built for arm64, this engine runs x86_64" in warnings[0]
    assert sorted(e.removed) == sorted(e.pulled) and "proj-serving:local" not in e.images


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("https://ghcr.io/acme/proj", "has a scheme"),
        ("ghcr.io/Acme/Proj", "not a registry name"),
        ("ghcr.io/acme proj", "not a registry name"),
    ],
)
def test_a_malformed_registry_is_one_warning_and_nothing_asked(
    project: Path, registry_answers: list[str], value: str, said: str
) -> None:
    (project / ".env.example").write_text(f"IMAGE_REGISTRY={value}\n")
    e = engine(project)
    hows, warnings = settle(e)
    assert set(hows.values()) == {"build"} and e.pulled == [] and registry_answers == []
    assert len(warnings) == 1 and said in warnings[0] and "building locally" in warnings[0]


def test_an_unreachable_registry_is_one_warning(project: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    http.use_transport(httpx.MockTransport(refuse))
    try:
        e = engine(project)
        hows, warnings = settle(e)
    finally:
        http.use_transport(None)
    assert set(hows.values()) == {"build"} and e.pulled == []
    assert len(warnings) == 1 and "not answering" in warnings[0]


def test_a_loopback_registry_is_asked_over_plain_http(
    project: Path, registry_answers: list[str]
) -> None:
    (project / ".env.example").write_text("IMAGE_REGISTRY=localhost:5000/proj\n")
    settle(engine(project))
    assert registry_answers == ["http://localhost:5000/v2/"]


def test_offline_and_build_never_contact_the_registry(
    project: Path, registry_answers: list[str]
) -> None:
    e = engine(project)
    assert settle(e, offline=True)[0] == {"mlflow": "build", "serving": "build"}
    assert settle(e, force_build=True)[0] == {"mlflow": "build", "serving": "build"}
    assert e.pulled == [] and registry_answers == []


def test_the_env_file_wins_over_the_committed_example(project: Path) -> None:
    (project / ".env").write_text("IMAGE_REGISTRY=localhost:5000/mine\n")
    assert pull.registry_prefix(project, {"IMAGE_REGISTRY": "localhost:5000/mine"}) == (
        "localhost:5000/mine"
    )
    assert pull.registry_prefix(project, {}) == REGISTRY
    (project / ".env.example").write_text("IMAGE_REGISTRY=\n")
    assert pull.registry_prefix(project, {}) is None


def test_built_images_get_their_content_tag_and_a_record(
    project: Path, registry_answers: list[str]
) -> None:
    e = engine(project)
    e.images.update({"proj-mlflow:local": "id-m", "proj-serving:local": "id-s"})
    found = pull.plans(e, {"mlflow", "serving"})
    pull.mark_built(e, found, 12.0)
    pull.remember(project, found, e)
    assert pull.current(e, found)
    record = pull.read_sources(project)
    assert record["serving"]["how"] == "built" and record["serving"]["id"] == "id-s"
    assert pull.origins(e, {})["bucket-init"]["tag"] == record["mlflow"]["tag"]
    assert pull.origins(e, {"serving": "id-s"})["serving"]["how"] == "built"
    assert "serving" not in pull.origins(e, {"serving": "id-other"}), "not the image it runs"
