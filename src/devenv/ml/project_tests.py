"""`devenv test`: the project's own checks (ruff lint and format) and tests (pytest), run in a
throwaway container of the JupyterLab image with the project mounted read-only, so results
match the containers the code runs in, whatever the host's Python."""

from __future__ import annotations

from collections.abc import Sequence

from devenv.core import services
from devenv.core.errors import ExecFailedError, UsageError
from devenv.docker.engine import Engine

SERVICE = "jupyter"
WORKDIR = "/home/app/project"
# Nothing is written into the (read-only) project: caches and bytecode go to the container.
ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "RUFF_CACHE_DIR": "/home/app/.cache/ruff",
    "PYTEST_ADDOPTS": "-p no:cacheprovider",
}
LINT = ("ruff check .", "ruff format --check --diff .")


def command(pytest_args: Sequence[str], *, lint: bool) -> list[str]:
    """One shell line: the lint steps, then pytest with the user's arguments (quoted by sh)."""
    steps = [*(LINT if lint else ()), 'python -m pytest "$@"']
    return ["sh", "-c", " && ".join(steps), "devenv-test", *pytest_args]


def run(engine: Engine, pytest_args: Sequence[str], *, lint: bool = True) -> None:
    """Run the checks and tests; a failure exits with pytest's (or ruff's) own exit code."""
    assert engine.project is not None
    root = engine.project.root
    if SERVICE not in {s.name for s in services.from_config(engine.config)}:
        raise UsageError(
            "devenv test runs in the JupyterLab image, and this project has none",
            hint="run the tests on the host: uv sync && uv run pytest (or pip install -e .)",
        )
    if not (root / "tests").is_dir():
        raise UsageError(
            f"{root / 'tests'} does not exist",
            hint="devenv update brings the template's tests/ (or create tests/test_*.py)",
        )
    result = engine.run_once(
        SERVICE, command(pytest_args, lint=lint), mounts=[(root, WORKDIR)], workdir=WORKDIR, env=ENV
    )
    if not result.ok:
        failed = ExecFailedError(
            f"the project's checks or tests failed (exit {result.code})",
            hint="the output is above; devenv test -- -x -k NAME reruns one test",
            details=result.stderr.rstrip() or None,
        )
        failed.exit_code = result.code
        raise failed
