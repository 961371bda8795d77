"""Finding the project a command acts on, from any folder inside it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from devenv.core.errors import ProjectFileError, ProjectNotFoundError

ANSWERS_FILE = ".copier-answers.yml"
COMPOSE_FILE = "compose.yaml"
GPU_OVERLAY = "compose.gpu.yaml"
# The user's own layer, as `docker compose` reads it by default (limits, a platform, a mount).
USER_OVERRIDE = "compose.override.yaml"
CONFLICT_MARKER = "<<<<<<< "
# Folders that hold user data or tooling, not project configuration. notebooks/ is scanned:
# an update can leave a conflicted notebook there.
SKIP_DIRS = frozenset({".git", "data", "backups", ".venv", "node_modules", "__pycache__"})


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


def project_files(root: Path) -> Iterator[str]:
    """Every file of the project (relative, POSIX), user data and tooling folders left out."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            yield (Path(folder) / name).relative_to(root).as_posix()


def conflicted_files(root: Path, candidates: Iterable[str]) -> list[str]:
    """Files holding conflict markers, .rej leftovers, and notebooks that are no longer JSON
    (a conflicted notebook is invalid JSON: Jupyter refuses to open it)."""
    found = []
    for name in candidates:
        path = root / name
        if name.endswith(".rej"):
            found.append(name)
        elif path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if any(line.startswith(CONFLICT_MARKER) for line in text.splitlines()):
                found.append(name)
            elif name.endswith(".ipynb"):
                try:
                    json.loads(text)
                except ValueError:
                    found.append(name)
    return found
