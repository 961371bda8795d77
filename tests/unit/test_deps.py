"""A generated project's pins (devenv.scaffold.deps): what an old requirements.txt holds that
uv.lock lacks, uv's reason for a failed resolution, and the refusal outside a locked project.
The real uv runs in tests/template/test_generated_project.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.core.errors import UsageError
from devenv.scaffold import deps

LOCK = """version = 1
requires-python = ">=3.11"

[[package]]
name = "mlflow"
version = "3.17.2"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "scikit-learn"
version = "1.9.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "my-project"
version = "0.1.0"
source = { virtual = "." }
"""


def test_pins_the_lock_lacks_are_named_by_package_and_version(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(LOCK)
    old = tmp_path / "services" / "jupyter" / "requirements.txt"
    old.parent.mkdir(parents=True)
    old.write_text(
        "# comment\nmlflow==3.17.2\nscikit_learn==1.9.1  # spelled otherwise: the same\n"
        "scikit-learn==1.8.0\npolars==1.2.0\nmlflow[extras]==3.17.2\n\n"
    )
    assert deps.unlocked_pins(tmp_path, "services/jupyter/requirements.txt") == [
        "scikit-learn==1.8.0",
        "polars==1.2.0",
    ]


def test_uv_s_reason_is_the_because_line() -> None:
    stderr = (
        "error: Failed to add dependencies\n"
        "  cause: No solution found when resolving dependencies:\n"
        "  cause: Because nope was not found in the package registry, we can conclude ...\n"
        "hint: If you want to add the package regardless ...\n"
    )
    assert deps._reason(stderr) == (
        "Because nope was not found in the package registry, we can conclude ..."
    )
    assert deps._reason("error: network unreachable\n") is None


def test_a_project_without_a_lock_is_told_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no pyproject\.toml and uv\.lock") as caught:
        deps.add(tmp_path, ["polars==1.2.0"], "train")
    assert caught.value.hint and "devenv update brings the lock" in caught.value.hint


def test_an_unknown_group_is_refused_before_uv_runs(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(LOCK)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'my-project'\n")
    with pytest.raises(UsageError, match="unknown group 'gpu'") as caught:
        deps.add(tmp_path, ["polars==1.2.0"], "gpu")
    assert caught.value.hint == "one of: train, serving, dev, jupyter"


def test_export_args_write_each_group_to_its_image() -> None:
    command = deps.export_args("serving")
    assert command[-2:] == ["--output-file", "services/serving/requirements.lock"]
    assert "--frozen" in command and "--no-annotate" in command


def test_the_hooks_uv_is_the_release_devenv_depends_on() -> None:
    """devenv add and the project's hooks export with uv: the same minor release writes the
    same bytes, so the hooks never undo what devenv wrote."""
    import re

    import tomllib
    from packaging.requirements import Requirement

    from devenv.scaffold.template import template_root

    root = template_root()
    hooks = (root / "template" / ".pre-commit-config.yaml.jinja").read_text()
    pinned = set(re.findall(r'"uv==([0-9.]+)"', hooks))
    assert len(pinned) == 1, pinned
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [Requirement(d).specifier for d in declared if Requirement(d).name == "uv"]
    assert spec.contains(pinned.pop())
