"""Backup archives and the pieces around them that need no engine: S3 request signing against
AWS's published examples, the archive's refusals (foreign, truncated, tampered, newer,
incomplete), a restore refused before it touches a stopped stack, and the Postgres
major-version guard. The real round trips are tests/e2e/test_data_safety.py."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from devenv.clients.s3 import EMPTY_SHA256, sign
from devenv.core.errors import StackUnhealthyError, UsageError
from devenv.docker.records import Container
from devenv.stack import archive, pgdata, restore
from devenv.stack.archive import BadArchiveError
from tests.unit.fakes import FakeEngine

# AWS's Signature Version 4 examples for S3 (header-based authentication).
AWS_KEYS = {"access_key": "AKIAIOSFODNN7EXAMPLE",
            "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}  # fmt: skip
AWS_DAY = datetime(2013, 5, 24, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (
            "https://examplebucket.s3.amazonaws.com/?lifecycle",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ],
)
def test_signing_matches_aws_published_examples(url: str, signature: str) -> None:
    headers = sign("GET", url, payload_sha256=EMPTY_SHA256, now=AWS_DAY, **AWS_KEYS)
    assert headers["authorization"].endswith(f"Signature={signature}")
    other = sign("GET", url, payload_sha256="0" * 64, now=AWS_DAY, **AWS_KEYS)
    assert other["authorization"] != headers["authorization"]  # the body's hash is signed


def make_archive(path: Path, *, objects: dict[str, bytes], **manifest: Any) -> Path:
    dump = b"PGDMP fake dump"
    listed = []
    with tarfile.open(path, "w") as tar:
        archive.add_bytes(tar, archive.DUMP, dump)
        for key, data in objects.items():
            archive.add_bytes(tar, archive.OBJECTS + key, data)
            listed.append({"key": key, "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
        body = {
            "format": archive.FORMAT,
            "version": archive.VERSION,
            "postgres": {"sha256": hashlib.sha256(dump).hexdigest(), "server_version": "15.1"},
            "objects": listed,
            **manifest,
        }
        archive.add_bytes(tar, archive.MANIFEST, json.dumps(body).encode())
    return path


def refused(path: Path, words: str) -> None:
    with pytest.raises(BadArchiveError, match=words):
        tar, manifest = archive.read_manifest(path)
        with tar:
            archive.verify(path, tar, manifest)


def test_a_sound_archive_passes(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.tar", objects={"artifacts/1/x.bin": b"\x00\x01" * 999})
    tar, manifest = archive.read_manifest(path)
    with tar:
        archive.verify(path, tar, manifest)
    assert [o["key"] for o in manifest.objects] == ["artifacts/1/x.bin"]


def test_archives_devenv_cannot_restore(tmp_path: Path) -> None:
    sound = make_archive(tmp_path / "a.tar", objects={"k": b"x" * 5000})
    truncated = tmp_path / "t.tar"
    truncated.write_bytes(sound.read_bytes()[:1500])
    refused(truncated, "truncated")
    refused(make_archive(tmp_path / "n.tar", objects={}, version=archive.VERSION + 1), "newer")
    refused(make_archive(tmp_path / "f.tar", objects={}, format="other"), "not a devenv backup")
    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        archive.add_bytes(tar, "README", b"hello")
    refused(foreign, "not one devenv backup wrote")
    (tmp_path / "text.tar").write_text("not a tar at all")
    refused(tmp_path / "text.tar", "truncated or damaged")
    refused(tmp_path / "none.tar", "does not exist")


def test_a_tampered_or_incomplete_archive(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.tar", objects={"k": b"original"})
    tampered = tmp_path / "x.tar"
    with tarfile.open(path) as old, tarfile.open(tampered, "w") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            data = b"changed!" if member.name == archive.OBJECTS + "k" else data
            new.addfile(member, io.BytesIO(data))
    refused(tampered, "does not match its manifest")
    incomplete = tmp_path / "i.tar"
    with tarfile.open(path) as old, tarfile.open(incomplete, "w") as new:
        for member in old.getmembers():
            if member.name != archive.OBJECTS + "k":
                new.addfile(member, old.extractfile(member))
    refused(incomplete, "lacks 1 file")


class DownEngine(FakeEngine):
    def require(self) -> None:
        return None


def config() -> dict[str, Any]:
    def service(probe: str, **more: Any) -> dict[str, Any]:
        return {"labels": {"devenv.probe": probe}, **more}

    return {
        "name": "p",
        "services": {
            "postgres": service(
                "postgres",
                image="postgres:17.2",
                volumes=[{"type": "volume", "source": "pg", "target": "/var/lib/postgresql"}],
            ),
            "objectstore": service("s3"),
            "mlflow": service("mlflow"),
        },
        "volumes": {"pg": {"name": "p_postgres-data"}},
    }


def test_restore_into_a_stopped_stack_changes_nothing(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.tar", objects={"k": b"v"})
    engine = DownEngine(tmp_path, config())
    with pytest.raises(StackUnhealthyError, match="needs the stack running"):
        restore.restore(engine, path)
    assert engine.calls == []  # no exec, no copy: refused before anything


def test_a_tampered_archive_is_refused_before_the_stack_is_asked(tmp_path: Path) -> None:
    path = make_archive(tmp_path / "a.tar", objects={"k": b"v"}, objects_extra=1)
    data = bytearray(path.read_bytes())
    at = data.find(b"PGDMP fake dump")
    data[at] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BadArchiveError, match="does not match"):
        restore.restore(DownEngine(tmp_path, config()), path)


class VolumeEngine(FakeEngine):
    def __init__(self, root: Path, seen: str, running_image: str = "") -> None:
        super().__init__(root, config())
        self.seen = seen
        self.looked = 0
        if running_image:
            self.running = [Container("postgres", "p-postgres-1", "running", "healthy", 0,
                                      image=running_image)]  # fmt: skip

    def volumes(self, compose_project: str | None = None) -> list[str]:
        return ["p_postgres-data"]

    def image_exists(self, tag: str) -> bool:
        return True

    def read_volume(self, image: str, volume: str, command: Any) -> str:
        self.looked += 1
        return self.seen


def test_postgres_of_another_major_is_refused_before_start(tmp_path: Path) -> None:
    engine = VolumeEngine(tmp_path, "15\npostgres (PostgreSQL) 17.2 (Debian 17.2-1)\n")
    found = pgdata.check(engine)
    assert found.status == "fail" and "holds Postgres 15 data" in found.detail
    assert "devenv backup" in (found.fix or "") and found.error is UsageError


@pytest.mark.parametrize(
    ("seen", "status"),
    [
        ("17\npostgres (PostgreSQL) 17.2\n", "ok"),  # same major
        ("postgres (PostgreSQL) 17.2\n", "ok"),  # an empty volume
        ("15\n17\npostgres (PostgreSQL) 17.2\n", "ok"),  # moved across already
    ],
)
def test_postgres_data_of_the_same_major(tmp_path: Path, seen: str, status: str) -> None:
    assert pgdata.check(VolumeEngine(tmp_path, seen)).status == status


def test_a_running_postgres_of_this_image_is_not_looked_into(tmp_path: Path) -> None:
    engine = VolumeEngine(tmp_path, "15\npostgres (PostgreSQL) 17.2\n", "postgres:17.2")
    assert pgdata.check(engine).status == "ok" and engine.looked == 0


def test_a_shielded_step_finishes_before_ctrl_c_takes_effect() -> None:
    import os
    import signal

    from devenv.core.interrupts import shielded

    finished = []
    with pytest.raises(KeyboardInterrupt), shielded():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("step")
    assert finished == ["step"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_admin_password_hash_is_the_one_mlflow_checks() -> None:
    """werkzeug's scrypt format, which MLflow's login checks: the value werkzeug itself gave
    (in the MLflow image) for this salt and password."""
    expected = (
        "scrypt:32768:8:1$abcdefghijklmnop$81b59dde9d092f718dfb03433d8da9c3665fd3041418559f01d926"
        "23eda9e66a6205e9230bf16318717746682357b4a1774d75dde137aea408fcfb874e777296"
    )
    assert restore.password_hash("correct horse", "abcdefghijklmnop") == expected
    fresh = restore.password_hash("correct horse")
    assert fresh != restore.password_hash("correct horse")  # a new salt each time
    assert fresh.startswith("scrypt:32768:8:1$") and len(fresh.split("$")[1]) == 16
