""".env: parsed as compose parses it; created and extended without ever losing a value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devenv.core import envfile
from devenv.core.errors import ProjectFileError

EXAMPLE = """# project
COMPOSE_PROJECT_NAME=demo
POSTGRES_PORT=5432
POSTGRES_PASSWORD=change-me
S3_ACCESS_KEY=change-me
S3_SECRET_KEY=change-me
"""


def test_parse_like_compose() -> None:
    text = (
        "A=plain\nB='single # not a comment'\nC=\"double\"\nD=value # a comment\n"
        "export E=exported\n# F=commented\nG=a=b\nH=\nA=later wins\n  I = spaced \n"
    )
    assert envfile.parse(text) == {
        "A": "later wins",
        "B": "single # not a comment",
        "C": "double",
        "D": "value",
        "E": "exported",
        "G": "a=b",
        "H": "",
        "I": "spaced",
    }


def test_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(ProjectFileError, match="not UTF-8"):
        envfile.read_env(path)


def test_fresh_clone_gets_env_with_new_secrets_and_private_mode(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(EXAMPLE)
    first = envfile.ensure(tmp_path)
    assert first.created
    env = envfile.read_env(tmp_path / ".env")
    assert env["COMPOSE_PROJECT_NAME"] == "demo" and env["POSTGRES_PORT"] == "5432"
    assert re.fullmatch(r"[A-Za-z0-9_-]{40}", env["POSTGRES_PASSWORD"])
    assert re.fullmatch(r"[A-Z0-9]{20}", env["S3_ACCESS_KEY"])
    assert env["POSTGRES_PASSWORD"] != env["S3_SECRET_KEY"]
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    # A second clone gets other secrets: nothing is shared through the example.
    other = tmp_path / "other"
    other.mkdir()
    (other / ".env.example").write_text(EXAMPLE)
    envfile.ensure(other)
    assert envfile.read_env(other / ".env")["POSTGRES_PASSWORD"] != env["POSTGRES_PASSWORD"]


def test_existing_env_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(EXAMPLE)
    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=mine\n")
    (tmp_path / ".env").chmod(0o644)
    result = envfile.ensure(tmp_path)
    assert not result.created
    assert result.added == [
        "COMPOSE_PROJECT_NAME",
        "POSTGRES_PORT",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
    ]
    env = envfile.read_env(tmp_path / ".env")
    assert env["POSTGRES_PASSWORD"] == "mine", "an existing value is never touched"
    assert env["S3_SECRET_KEY"] != "change-me" and len(env["S3_SECRET_KEY"]) == 40
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    assert envfile.ensure(tmp_path).added == [], "idempotent"
    with pytest.raises(ProjectFileError, match="already exists"):
        envfile.write_private(tmp_path / ".env", "X=1\n")


def test_missing_env_with_existing_volumes_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(EXAMPLE)
    with pytest.raises(ProjectFileError, match="volumes exist") as caught:
        envfile.ensure(tmp_path, volumes=["demo_postgres-data", "demo_objectstore-data"])
    assert "restore .env" in (caught.value.hint or "")
    assert "docker volume rm demo_postgres-data demo_objectstore-data" in (caught.value.hint or "")
    assert not (tmp_path / ".env").exists()


def test_follow_takes_the_templates_change_unless_you_set_your_own(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("S3_PORT=8333\nOBJECT_STORE_IMAGE=registry.corp/seaweedfs:4\nSECRET=abc\n")
    old = "S3_PORT=8333\nOBJECT_STORE_IMAGE=chrislusf/seaweedfs:4.48\nSECRET=change-me\n"
    new = "S3_PORT=9000\nOBJECT_STORE_IMAGE=minio/minio:x\nSECRET=change-me\n"
    result = envfile.follow(env, old, new)
    assert result.updated == ["S3_PORT"] and result.kept == ["OBJECT_STORE_IMAGE"]
    values = envfile.read_env(env)
    assert values == {
        "S3_PORT": "9000",
        "OBJECT_STORE_IMAGE": "registry.corp/seaweedfs:4",
        "SECRET": "abc",
    }
