"""`devenv test`'s command line: the user's pytest arguments reach pytest intact (sh's "$@"),
and --no-lint leaves ruff out."""

from __future__ import annotations

import subprocess

from devenv.ml.project_tests import command


def test_pytest_arguments_arrive_intact_and_lint_comes_first() -> None:
    args = ["-k", "predict and not slow", "tests/a b.py"]
    cmd = command(args, lint=True)
    assert cmd[:2] == ["sh", "-c"] and cmd[2].startswith("ruff check . && ruff format")
    # Run the same shell line with pytest replaced by printf: what pytest would receive.
    line = cmd[2].split(" && ")[-1].replace("python -m pytest", "printf '[%s]'")
    shown = subprocess.run(["sh", "-c", line, *cmd[3:]], capture_output=True, text=True)
    assert shown.stdout == "[-k][predict and not slow][tests/a b.py]"


def test_no_lint_runs_pytest_alone() -> None:
    assert command([], lint=False)[2] == 'python -m pytest "$@"'
