"""Content tags: the same inputs give the same tag anywhere; each input that determines the
image changes it, and nothing else does (one test per input)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from devenv.docker import builds
from devenv.docker.builds import BuildSpec, content_tag, ignore_rules, ignored

DOCKERIGNORE = "*\n!requirements.txt\n!app/\napp/**/__pycache__\n"


def context(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "Dockerfile").write_text("ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\nCOPY . /srv\n")
    (root / ".dockerignore").write_text(DOCKERIGNORE)
    (root / "requirements.txt").write_text("fastapi==0.121.0\n")
    (root / "app" / "main.py").write_text("print('hello')\n")
    return root


def spec(root: Path, **changes: Any) -> BuildSpec:
    fields: dict[str, Any] = {
        "image": "proj-serving:local",
        "services": ("serving",),
        "context": root,
        "dockerfile": root / "Dockerfile",
        "args": {"PYTHON_IMAGE": "python:3.12-slim-bookworm", "HTTP_PROXY": ""},
    }
    return BuildSpec(**{**fields, **changes})


@pytest.fixture
def base(tmp_path: Path) -> tuple[Path, str]:
    root = context(tmp_path / "a")
    return root, content_tag(spec(root))


def test_two_copies_anywhere_have_one_tag(base: tuple[Path, str], tmp_path: Path) -> None:
    root, tag = base
    other = tmp_path / "elsewhere" / "clone"
    shutil.copytree(root, other)
    assert content_tag(spec(other)) == tag
    assert tag.startswith("c-") and len(tag) == 22


def test_a_changed_file_changes_the_tag(base: tuple[Path, str]) -> None:
    root, tag = base
    (root / "app" / "main.py").write_text("print('hello')\n# one line more\n")
    assert content_tag(spec(root)) != tag


def test_a_new_file_docker_sends_changes_it_an_ignored_one_does_not(
    base: tuple[Path, str],
) -> None:
    root, tag = base
    (root / "app" / "__pycache__").mkdir()
    (root / "app" / "__pycache__" / "main.cpython-312.pyc").write_bytes(b"\0bytecode")
    (root / "notes.md").write_text("not sent: .dockerignore leaves it out\n")
    assert content_tag(spec(root)) == tag
    (root / "app" / "util.py").write_text("X = 1\n")
    assert content_tag(spec(root)) != tag


def test_a_renamed_file_changes_the_tag(base: tuple[Path, str]) -> None:
    root, tag = base
    (root / "app" / "main.py").rename(root / "app" / "server.py")
    assert content_tag(spec(root)) != tag


def test_the_executable_bit_changes_the_tag(base: tuple[Path, str]) -> None:
    root, tag = base
    (root / "app" / "main.py").chmod(0o755)
    assert content_tag(spec(root)) != tag


def test_the_dockerfile_counts_even_when_dockerignore_leaves_it_out(
    base: tuple[Path, str],
) -> None:
    root, tag = base
    assert ignored("Dockerfile", ignore_rules(DOCKERIGNORE)), "the premise: `*` leaves it out"
    (root / "Dockerfile").write_text("ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\nCOPY app /srv\n")
    assert content_tag(spec(root)) != tag


def test_another_dockerfile_changes_the_tag(base: tuple[Path, str]) -> None:
    root, tag = base
    (root / "Dockerfile.prod").write_text((root / "Dockerfile").read_text())
    assert content_tag(spec(root, dockerfile=root / "Dockerfile.prod")) != tag


def test_the_base_image_reference_changes_the_tag(base: tuple[Path, str]) -> None:
    root, tag = base
    moved = {"PYTHON_IMAGE": "python:3.13-slim-bookworm", "HTTP_PROXY": ""}
    assert content_tag(spec(root, args=moved)) != tag


def test_a_build_argument_that_matters_changes_the_tag(base: tuple[Path, str]) -> None:
    root, tag = base
    args = {"PYTHON_IMAGE": "python:3.12-slim-bookworm", "TORCH_VERSION": "2.13.0"}
    assert content_tag(spec(root, args=args)) != tag


@pytest.mark.parametrize(
    "neutral",
    ["HTTP_PROXY", "https_proxy", "NO_PROXY", "PIP_INDEX_URL", "BUILDKIT_INLINE_CACHE"],
)
def test_proxies_the_index_mirror_and_cache_switches_do_not(
    base: tuple[Path, str], neutral: str
) -> None:
    root, tag = base
    args = {"PYTHON_IMAGE": "python:3.12-slim-bookworm", neutral: "http://proxy.corp:3128"}
    assert content_tag(spec(root, args=args)) == tag


def test_the_target_stage_changes_the_tag(base: tuple[Path, str]) -> None:
    root, tag = base
    assert content_tag(spec(root, target="runtime")) != tag


def test_a_pinned_platform_changes_the_tag(base: tuple[Path, str]) -> None:
    root, tag = base
    arm = content_tag(spec(root, platform="linux/arm64"))
    assert arm != tag and arm != content_tag(spec(root, platform="linux/amd64"))


def test_secrets_and_the_image_name_do_not(base: tuple[Path, str], tmp_path: Path) -> None:
    root, tag = base
    ca = tmp_path / "corp.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    other = spec(root, image="teammate-serving:local", secrets={"extra_ca": str(ca)})
    assert content_tag(other) == tag


@pytest.mark.parametrize(
    ("pattern", "path", "left_out"),
    [
        ("*", "a/b.py", True),  # a parent folder matches
        ("*.pyc", "a/b.pyc", False),  # `*` stops at a slash
        ("**/*.pyc", "a/b/c.pyc", True),
        ("**/*.pyc", "c.pyc", True),  # `**/` is zero folders too
        ("/build", "build/x", True),  # a leading slash is the context's root
        ("docs/", "docs/index.md", True),
        ("a?c", "abc", True),
        ("[ab]x", "bx", True),
        ("*\n!keep", "keep", False),
        ("*\n!keep\nkeep", "keep", True),  # the last rule that matches decides
        ("# comment\n\n", "x", False),
    ],
)
def test_dockerignore_as_docker_reads_it(pattern: str, path: str, left_out: bool) -> None:
    assert ignored(path, ignore_rules(pattern)) is left_out


def test_the_rendered_contexts_send_what_their_dockerfiles_copy(tmp_path: Path) -> None:
    """The template's own .dockerignore files, as Docker would apply them."""
    from tests.helpers import rendered_project

    root = rendered_project(tmp_path)
    serving = root / "services" / "serving"
    (serving / "app" / "__pycache__").mkdir(exist_ok=True)
    (serving / "app" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    sent = {p.relative_to(serving).as_posix() for p in builds.context_files(serving)}
    assert "requirements.lock" in sent and "app/main.py" in sent
    assert not any("__pycache__" in p for p in sent)


def test_an_unreadable_file_is_one_clear_error(
    base: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a mode-000 file reads for anyone but root (CI runs as root: the OS is stood in for)."""
    from devenv.core.errors import BuildFailedError

    root, _ = base
    locked = root / "app" / "locked.py"
    locked.write_text("X = 1\n")
    real = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path == locked:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(
        BuildFailedError, match=r"cannot read .*locked\.py.*Permission denied"
    ) as raised:
        content_tag(spec(root))
    assert ".dockerignore" in (raised.value.hint or "")
