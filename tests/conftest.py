"""Shared test options: Docker-marked tests skip without an engine, and fail instead in CI."""

from __future__ import annotations

import os
from functools import cache

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-docker",
        action="store_true",
        default=False,
        help="fail (instead of skip) Docker-marked tests when no engine answers; set in CI",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that empty BuildKit's cache (to time a cold build) run last: every test before
    them keeps the warm layers the others share."""
    items.sort(key=lambda item: item.get_closest_marker("cold_build_cache") is not None)


@cache
def _engine_problem() -> str | None:
    """None when a Docker engine answers, else a one-line reason."""
    from devenv.core.errors import DevenvError
    from devenv.docker.engine import Engine

    try:
        return None if Engine().responds() else "no Docker engine answers"
    except DevenvError as error:  # no docker CLI, a malformed DOCKER_HOST
        return error.message


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is None:
        return
    problem = _engine_problem()
    if problem is None:
        return
    required = item.config.getoption("--require-docker") or os.environ.get("DEVENV_REQUIRE_DOCKER")
    if required:
        pytest.fail(f"Docker is required here but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the template cache of `devenv new` away from the user's own."""
    monkeypatch.setenv("DEVENV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "devenv-cache"))
