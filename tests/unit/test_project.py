from __future__ import annotations

from pathlib import Path

import pytest

from devenv.core.errors import ProjectNotFoundError
from devenv.core.project import find_project


def test_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / ".copier-answers.yml").write_text("project_name: x\n")
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    project = find_project(deep)
    assert project.root == tmp_path.resolve()
    assert project.answers() == {"project_name": "x"}


def test_not_found_hints_at_new(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services: {}\n")  # compose alone is not a project
    with pytest.raises(ProjectNotFoundError) as info:
        find_project(tmp_path)
    assert "devenv new" in (info.value.hint or "")
    assert info.value.exit_code == 4
