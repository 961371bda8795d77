"""Bad answers get a one-line error with a hint, the right exit code, and leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli

BAD_NAMES = [
    "", " ", "   ", " leading", "trailing ", "1starts-with-digit", "-dash", "_underscore", ".dot",
    "semi;colon", "amp&ersand", "pi|pe", "dol$lar", "$(rm -rf ~)", "`id`", "single'quote",
    'double"quote', "back\\slash", "sl/ash", "st*ar", "quest?ion", "less<than", "gr>eater",
    "pa(ren)", "br{ace}", "brack[et]", "ha#sh", "bang!", "per%cent", "ca^ret", "til~de",
    "eq=ual", "pl+us", "com,ma", "co:lon", "at@sign", "Café", "日本語", "naïve", "rocket 🚀",
    "tab\tname", "new\nline", "x" * 51,
]
BAD_OTHER = [
    ("project_slug", "Upper"), ("project_slug", "1abc"), ("project_slug", "a b"),
    ("project_slug", "a.b"), ("project_slug", "-a"), ("project_slug", "a" * 41),
    ("project_slug", ""),
    ("package_name", "class"), ("package_name", "import"), ("package_name", "1pkg"),
    ("package_name", "pkg-name"), ("package_name", "Pkg"), ("package_name", "mlflow"),
    ("postgres_port", "0"), ("postgres_port", "65536"), ("postgres_port", "-1"),
    ("postgres_port", "abc"), ("postgres_port", "80.5"), ("postgres_port", ""),
    ("mlflow_port", "5432"), ("s3_port", "5432"), ("s3_console_port", "8333"),
    ("jupyter_port", "5050"), ("serving_port", "8888"), ("serving_port", "5050"),
    ("object_store", "ceph"), ("object_store", "MINIO"), ("gpu", "amd"), ("gpu", ""),
    ("python_version", "2.7"), ("python_version", "3.9"), ("include_serving", "maybe"),
    ("not_a_question", "x"),
]
CASES = [("project_name", name) for name in BAD_NAMES] + BAD_OTHER


def test_enough_cases() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize(("key", "value"), CASES, ids=[f"{k}={v!r}"[:60] for k, v in CASES])
def test_bad_answer(key: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "project"
    result = run_cli(capsys, "new", str(dest), "--defaults", "--data", f"{key}={value}")
    assert result.code in (2, 3), result
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and len(lines) <= 2, result.err
    assert len(lines) == 1 or lines[1].startswith("hint: ")
    assert not dest.exists(), "a rejected answer must not leave a half-written project"
