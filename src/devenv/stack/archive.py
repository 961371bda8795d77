"""The backup archive: one uncompressed tar (artifacts are mostly compressed already, and a
plain tar can be listed without reading it through) holding

    postgres/mlflow.dump      pg_dump's custom format of MLflow's database
    objects/<key>             every object of the bucket, byte for byte
    project/.copier-answers.yml
    env/.env                  only with --include-secrets (the archive is then 0600)
    manifest.json             last: versions, counts, a SHA-256 and MD5 per object

`open_archive` refuses, before anything is changed, an archive that is not ours, truncated,
made by a newer devenv, or whose content differs from its manifest.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from devenv.core.errors import UsageError, shorten

FORMAT = "devenv-backup"
VERSION = 1
MANIFEST = "manifest.json"
DUMP = "postgres/mlflow.dump"
ANSWERS = "project/.copier-answers.yml"
ENV = "env/.env"
OBJECTS = "objects/"
CHUNK = 1 << 20


class BadArchiveError(UsageError):
    """An archive devenv cannot restore from: one line naming why, nothing changed."""


@dataclass
class Manifest:
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def objects(self) -> list[dict[str, Any]]:
        return list(self.data.get("objects") or [])

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.data.get("mlflow") or {})

    @property
    def secrets(self) -> bool:
        return bool(self.data.get("secrets"))


class Hashing:
    """SHA-256 and MD5 of bytes as they pass (MD5: what S3 reports as a single-part ETag)."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, chunk: bytes) -> bytes:
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.size += len(chunk)
        return chunk

    def facts(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256.hexdigest(), "md5": self.md5.hexdigest()}


class ChunkReader:
    """A file-like view of an iterator of chunks, hashed as tarfile reads it: objects stream
    from the store into the archive without landing anywhere else. Reads slice one chunk at
    an offset (no copying of what is left)."""

    def __init__(self, chunks: Iterator[bytes], hashing: Hashing) -> None:
        self._chunks = chunks
        self._chunk = memoryview(b"")
        self.hashing = hashing

    def read(self, size: int = -1) -> bytes:
        if not self._chunk:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._chunk = memoryview(self.hashing.update(chunk))
        if size < 0 or size >= len(self._chunk):
            out, self._chunk = bytes(self._chunk), memoryview(b"")
            return out
        out, self._chunk = bytes(self._chunk[:size]), self._chunk[size:]
        return out


def member(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, int(time.time())
    return info


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    import io

    tar.addfile(member(name, len(data), mode), io.BytesIO(data))


def _bad(path: Path, why: str, hint: str) -> BadArchiveError:
    return BadArchiveError(f"{shorten(path, 120)} {why}", hint=hint)


def read_manifest(path: Path) -> tuple[tarfile.TarFile, Manifest]:
    """The open archive and its manifest; a foreign, truncated or newer one is refused."""
    if not path.is_file():
        raise _bad(path, "does not exist", "give the path of a file written by devenv backup")
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 - the caller closes it
        names = tar.getnames()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise _bad(
            path,
            f"is truncated or damaged: not a whole tar archive ({type(error).__name__})",
            "copy it again from where it was made (an interrupted copy?), or use another backup",
        ) from None
    if MANIFEST not in names:
        tar.close()
        if any(n == DUMP or n.startswith(OBJECTS) for n in names):
            raise _bad(
                path,
                "is truncated: it ends before its manifest (an interrupted copy?)",
                "copy it again from where it was made, or use another backup",
            )
        raise _bad(
            path,
            "is a tar archive, but not one devenv backup wrote (no manifest.json)",
            "give the path of a file written by devenv backup",
        )
    try:
        extracted = tar.extractfile(MANIFEST)
        data = json.loads(extracted.read() if extracted else b"")
    except (tarfile.TarError, EOFError, OSError, ValueError):
        tar.close()
        raise _bad(path, "has a damaged manifest", "use another backup") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        tar.close()
        raise _bad(path, "is not a devenv backup", "give a file written by devenv backup")
    if int(data.get("version") or 0) > VERSION:
        tar.close()
        raise _bad(
            path,
            f"was written by a newer devenv ({data.get('devenv')}, format {data.get('version')})",
            "upgrade devenv (pip install -U ml-devenv), then restore again",
        )
    return tar, Manifest(data)


def stream_member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = tar.extractfile(name)
    if handle is None:
        raise BadArchiveError(f"the archive's {name} is not a file", hint="use another backup")
    return handle


def chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def verify(path: Path, tar: tarfile.TarFile, manifest: Manifest) -> None:
    """Every object and the dump read through and checked against the manifest: a tampered,
    truncated or incomplete archive is refused before anything is restored."""
    expected = {OBJECTS + o["key"]: o for o in manifest.objects}
    expected[DUMP] = manifest.data.get("postgres") or {}
    present = set(tar.getnames())
    missing = sorted(set(expected) - present)
    if missing:
        raise _bad(
            path,
            f"lacks {len(missing)} file(s) its manifest lists: {missing[0]}",
            "use another backup",
        )
    for name, facts in expected.items():
        hashing = Hashing()
        try:
            for chunk in chunks(stream_member(tar, name)):
                hashing.update(chunk)
        except (tarfile.TarError, EOFError, OSError):
            raise _bad(path, f"is truncated (in {name})", "use another backup") from None
        if hashing.sha256.hexdigest() != facts.get("sha256"):
            raise _bad(
                path,
                f"does not match its manifest: {name} has another checksum (changed after the "
                "backup?)",
                "use another backup; this one has been altered or damaged",
            )
