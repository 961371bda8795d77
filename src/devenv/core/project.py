"""Finding the project a command acts on, from any folder inside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from devenv.core.errors import ProjectFileError, ProjectNotFoundError

ANSWERS_FILE = ".copier-answers.yml"
COMPOSE_FILE = "compose.yaml"
GPU_OVERLAY = "compose.gpu.yaml"


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def answers_path(self) -> Path:
        return self.root / ANSWERS_FILE

    def answers(self) -> dict[str, object]:
        try:
            data = yaml.safe_load(self.answers_path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise ProjectFileError(
                f"{self.answers_path} is not valid YAML{where}",
                hint="restore it from git (git checkout -- .copier-answers.yml) or fix it by hand",
            ) from None
        if not isinstance(data, dict):
            raise ProjectFileError(
                f"{self.answers_path} does not hold the template's answers",
                hint="restore it from git: git checkout -- .copier-answers.yml",
            )
        return dict(data)


def find_project(start: Path | None = None) -> Project:
    """The nearest folder at or above `start` holding both the answers file and compose.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ANSWERS_FILE).is_file() and (folder / COMPOSE_FILE).is_file():
            return Project(folder)
    raise ProjectNotFoundError(
        f"{here} is not inside a devenv project (no {ANSWERS_FILE} next to a {COMPOSE_FILE})",
        hint="cd into your project, or create one with: devenv new my-project",
    )
