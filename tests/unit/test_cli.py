from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv import __version__
from tests.helpers import run_cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--version")
    assert result.code == 0 and result.out.strip() == f"devenv {__version__}"


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "new", "--help")
    assert result.code == 0
    for word in ("--defaults", "--data", "KEY=VALUE", "Examples"):
        assert word in result.out


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "new", "--bogus")
    assert result.code == 2 and "Traceback" not in result.err and "--bogus" in result.err


def test_new_json_is_data_on_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dest = tmp_path / "proj"
    result = run_cli(capsys, "new", str(dest), "--defaults", "--json", "-d", "object_store=rustfs")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["path"] == str(dest.resolve())
    assert data["answers"]["object_store"] == "rustfs"
    assert data["git"] is True and (dest / ".git").is_dir()
    secrets = [
        line.split("=", 1)[1]
        for line in (dest / ".env").read_text().splitlines()
        if line.startswith(("POSTGRES_PASSWORD=", "JUPYTER_TOKEN="))
    ]
    assert secrets and not any(s in result.out for s in secrets)


def test_new_refuses_a_non_empty_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    result = run_cli(capsys, "new", str(tmp_path), "--defaults")
    assert result.code == 2 and "not empty" in result.err
    assert (tmp_path / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_urls_outside_a_project(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_cli(capsys, "urls", cwd=tmp_path)
    assert result.code == 4 and "hint: " in result.err
