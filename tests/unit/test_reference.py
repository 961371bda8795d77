"""The command reference and `--help` come from the CLI itself and teach: examples on every
command, the exit codes, no Python types, and docs/cli.md in step with all of it."""

from __future__ import annotations

import re

import pytest
import typer

from devenv.cli import app, reference
from devenv.scaffold.template import template_root
from tests.helpers import run_cli

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
ALIASES = {"start", "stop"}  # their help is one line naming the command they stand for


def test_docs_cli_md_is_generated_from_the_cli() -> None:
    text = (template_root() / "docs" / "cli.md").read_text()
    block = re.search(
        re.escape(reference.BEGIN) + r".*?" + re.escape(reference.END), text, re.DOTALL
    )
    assert block, "docs/cli.md lost its generated block"
    assert block[0] == reference.generated(), "run `make docs` and commit docs/cli.md"
    for name in COMMANDS:
        assert f"`devenv {name} " in block[0], name


@pytest.mark.parametrize("name", COMMANDS)
def test_help_teaches(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    result = run_cli(capsys, name, "--help")
    assert result.code == 0, result.err
    text = result.out
    if name not in ALIASES:
        assert "Examples:" in text and f"devenv {name}" in text.split("Examples:")[1]
    assert "Exit codes: 0 ok" in text and "130 interrupted" in text
    leaked = re.findall(r"<(?:bool|str|int|list\[str\]|path)>", text)
    assert not leaked, f"Python types in help: {leaked}"
