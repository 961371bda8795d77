"""The architecture of docs/architecture.md, held by tests: one door per outside world, no
module grown past what one person reads in a sitting. (The layers are import-linter's
contracts in pyproject.toml, run by `make lint`.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import devenv

SRC = Path(devenv.__file__).parent
# The outside world -> the one module allowed to import it.
DOORS = {
    "python_on_whales": "docker/engine.py",
    "httpx": "core/http.py",
    "subprocess": "core/proc.py",
}
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


@pytest.mark.parametrize("world", sorted(DOORS))
def test_each_outside_world_has_one_door(world: str) -> None:
    """Imports anywhere in a module count, lazy ones inside functions too."""
    importers = sorted(p.relative_to(SRC).as_posix() for p in _modules() if world in _imported(p))
    assert importers == [DOORS[world]]


def test_no_call_of_the_outside_world_outside_its_door() -> None:
    """The issue's own check: `grep -r "subprocess\\.\\|httpx\\." src/` finds only the doors."""
    calls = re.compile(r"\b(subprocess|httpx)\.")
    found = sorted(
        p.relative_to(SRC).as_posix()
        for p in _modules()
        if calls.search(p.read_text(encoding="utf-8"))
    )
    assert found == sorted({DOORS["httpx"], DOORS["subprocess"]})


def test_no_module_is_too_long() -> None:
    sizes = {
        p.relative_to(SRC).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in _modules()
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
