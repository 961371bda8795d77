from __future__ import annotations

from pathlib import Path

import pytest

from devenv.core.errors import TemplateError, UsageError
from devenv.core.project import conflicted_files
from devenv.scaffold import new
from devenv.scaffold import template as scaffold


def test_questions_include_the_fixed_answer_names() -> None:
    names = set(scaffold.questions())
    assert {"project_name", "project_slug", "object_store", "gpu", "python_version"} <= names
    assert not any(name.startswith("_") for name in names)


def test_parse_data_converts_by_question_type() -> None:
    data = scaffold.parse_data(
        ["gpu=none", "mlflow_port=6000", "include_serving=no", "project_name=A=B"]
    )
    assert data == {
        "gpu": "none",
        "mlflow_port": 6000,
        "include_serving": False,
        "project_name": "A=B",
    }


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ("gpu", UsageError),
        ("=none", UsageError),
        ("gpuu=none", UsageError),
        ("mlflow_port=50.5", TemplateError),
        ("include_jupyter=perhaps", TemplateError),
    ],
)
def test_parse_data_rejects(item: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        scaffold.parse_data([item])
    assert info.value.hint or isinstance(info.value, TemplateError)  # type: ignore[attr-defined]


def test_unknown_key_hint_lists_known_answers() -> None:
    with pytest.raises(UsageError) as info:
        scaffold.parse_data(["objectstore=minio"])
    assert "object_store" in (info.value.hint or "")


def test_conflicted_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(
        "x\n<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after\n"
    )
    (tmp_path / "b.txt").write_text("quoting <<<<<<< mid-line is fine\n")
    (tmp_path / "c.yaml.rej").write_text("")
    (tmp_path / "bin").write_bytes(b"\xff\xfe<<<<<<< ")
    found = conflicted_files(tmp_path, ["a.txt", "b.txt", "c.yaml.rej", "bin", "gone"])
    assert found == ["a.txt", "c.yaml.rej"]


def test_portable_path_uses_tilde_under_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert scaffold._portable(tmp_path / ".cache" / "devenv") == "~/.cache/devenv"
    assert scaffold._portable(Path("/opt/elsewhere")) == "/opt/elsewhere"


def test_snapshot_tags_once_per_content(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEVENV_CACHE_DIR", str(tmp_path / "cache"))
    first = scaffold.template_snapshot()
    assert scaffold.template_snapshot() == first, "same content, same tag"
    assert first[1].startswith("v")


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("fraud-detection", "fraud-detection"),
        ("My Project", "My Project"),
        ("2024-models", None),
        ("émoji🚀", "moji"),
        ("a;b", "a-b"),
    ],
)
def test_project_named_after_its_folder(folder: str, expected: str | None) -> None:
    data = new.default_name(Path("/tmp") / folder, {})
    assert data.get("project_name") == expected
    assert new.default_name(Path("/tmp") / folder, {"project_name": "X"}) == {"project_name": "X"}
