"""Offline linters and scanners (hadolint, shellcheck, compose-lint, trivy config, actionlint),
each result cached by the content of what it reads."""

from __future__ import annotations

import hashlib
import os
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


def compose_lint_merged(project: Path, compose_cmd: list[str], *files: str) -> str:
    """compose-lint on what actually runs: the files merged by `docker compose config` (an
    overlay alone lacks the hardening it inherits). Cached: uninterpolated, the merge is the
    same for every render with the same answers."""
    args = [a for f in files for a in ("-f", f)]
    merged = subprocess.run(
        [*compose_cmd, "--project-directory", str(project), *args, "config", "--no-interpolate"],
        cwd=project, capture_output=True, text=True, check=True,
    ).stdout
    tree = (
        ("compose.yaml", merged),
        (".compose-lint.yml", (project / ".compose-lint.yml").read_text()),
        # Placeholders with the same keys as .env: stable across renders.
        (".env", (project / ".env.example").read_text()),
    )
    return _lint_tree("compose-lint", tree)


def compose_lint(project: Path, *files: str) -> str:
    result = subprocess.run(
        [tool("compose-lint"), "check", "--fail-on", "low", "--strict-config", "-q", *files],
        cwd=project, capture_output=True, text=True,
    )
    return "" if result.returncode == 0 else (result.stdout + result.stderr).strip()


@cache
def _lint_tree(kind: str, files: tuple[tuple[str, str], ...]) -> str:
    """Run a tree-level tool on a copy holding only `files` (relative path, text)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in files:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        env = dict(os.environ)
        if kind == "compose-lint":
            cmd = [tool("compose-lint"), "check", "--fail-on", "low", "--strict-config", "-q",
                   "compose.yaml"]
        elif kind == "trivy":
            # Offline: the Dockerfile checks embedded in the binary, no update, no network.
            cmd = [tool("trivy"), "config", "--skip-check-update", "--quiet", "--exit-code", "1",
                   "--ignorefile", ".trivyignore", "--cache-dir", str(root / ".cache"), "."]
        else:
            # actionlint runs shellcheck on every `run:` script when it finds it on PATH.
            cmd = [tool("actionlint"), "-no-color"]
            (root / ".git").mkdir()  # how actionlint finds the project root
            env["PATH"] = f"{Path(tool('shellcheck')).parent}:{env.get('PATH', '')}"
        result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
        return "" if result.returncode == 0 else (result.stdout + result.stderr).strip()


def _tree(project: Path, patterns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    paths = sorted({p for pattern in patterns for p in project.glob(pattern) if p.is_file()})
    return tuple((p.relative_to(project).as_posix(), p.read_text()) for p in paths)


def trivy_config(project: Path) -> str:
    """Trivy's misconfiguration checks on the Dockerfiles, honouring the project's .trivyignore."""
    return _lint_tree("trivy", _tree(project, ("services/*/Dockerfile", ".trivyignore")))


def actionlint(project: Path) -> str:
    """actionlint (with shellcheck on `run:` scripts) on the project's GitHub workflows."""
    files = _tree(project, (".github/workflows/*.yml",))
    assert files, "no workflow to lint"
    return _lint_tree("actionlint", files)
