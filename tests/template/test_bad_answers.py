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
# Names a project's package must not take: it would shadow what the stack imports.
SHADOWING = [
    "json", "typing", "logging", "email", "http", "os", "re", "test", "numpy", "pandas",
    "sklearn", "scipy", "requests", "fastapi", "pydantic", "boto3", "tornado", "torch", "yaml",
]
# Property-style: every free-text and number question, with a trailing newline and over-long.
TRAILING_NEWLINE = [
    ("project_name", "My Project\n"), ("project_slug", "abc\n"), ("package_name", "pkg\n"),
    ("postgres_port", "5432\n"), ("mlflow_port", " 5050"), ("include_jupyter", "true\n"),
    ("object_store", "seaweedfs\n"), ("gpu", "none\n"),
    ("python_version", "3.12\n"),
]
TOO_LONG = [("project_name", "a" * 51), ("project_slug", "a" * 41), ("package_name", "a" * 41),
            ("serving_port", "9" * 30)]
CASES = (
    [("project_name", name) for name in BAD_NAMES]
    + BAD_OTHER
    + [("package_name", name) for name in SHADOWING]
    + TRAILING_NEWLINE
    + TOO_LONG
)


def test_every_question_has_a_trailing_newline_case() -> None:
    from devenv.scaffold.template import questions

    text_questions = {k for k, q in questions().items() if q.get("type", "str") == "str"}
    covered = {key for key, value in TRAILING_NEWLINE if value.endswith("\n")}
    assert text_questions <= covered, text_questions - covered


def test_the_validator_lists_every_standard_library_module() -> None:
    """The template cannot import Python, so copier.yml spells the list out: keep it whole."""
    import re
    import sys

    from devenv.scaffold.template import questions

    validator = questions()["package_name"]["validator"]
    listed = set(re.findall(r"'([a-z][a-z0-9_]*)'", validator))
    modules = {n for n in sys.stdlib_module_names if re.fullmatch(r"[a-z][a-z0-9_]*", n)}
    assert modules <= listed, sorted(modules - listed)


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
