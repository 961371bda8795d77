"""`devenv backup`: the platform's data in one archive (devenv.stack.archive), taken from the
running stack through the services' own interfaces: `pg_dump` in the Postgres container (a
consistent snapshot of MLflow's database) and the S3 API for the bucket, so the archive does
not depend on which store wrote it.

The database is dumped first and the bucket listed after: a run logged in between may add an
object the dump does not reference (harmless), never the reverse. The archive is written to a
temporary file and renamed into place only when complete (devenv.core.outputs).
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from devenv import __version__
from devenv.clients.s3 import Bucket
from devenv.core import outputs, proc, services
from devenv.core.errors import DockerCommandError, StackUnhealthyError, UsageError
from devenv.docker.engine import Engine
from devenv.stack import archive
from devenv.stack.status import MISSING

# Where pg_dump writes and pg_restore reads inside the Postgres container: its data volume,
# which `docker cp` reaches (a tmpfs would not be) and which has room for the database.
IN_VOLUME = "/var/lib/postgresql/devenv-transfer.dump"
FOLDER = "backups"
# MLflow's tables, counted into the manifest and checked after a restore.
COUNTED = {
    "experiments": "experiments",
    "runs": "runs",
    "metrics": "metrics",
    "registered_models": "registered_models",
    "model_versions": "model_versions",
    "aliases": "registered_model_aliases",
}
# Bytes done, bytes in all (0 until known), what is being copied.
OnBytes = Callable[[int, int, str], None]


@dataclass
class BackupResult:
    path: Path
    size: int
    seconds: float
    objects: int
    object_bytes: int
    counts: dict[str, int] = field(default_factory=dict)
    secrets: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bytes": self.size,
            "seconds": round(self.seconds, 2),
            "objects": self.objects,
            "object_bytes": self.object_bytes,
            "mlflow": self.counts,
            "secrets": self.secrets,
        }


def default_path(engine: Engine, label: str = "backup") -> Path:
    """backups/<project>-<label>-<UTC time>.tar in the project (git-ignored)."""
    assert engine.project is not None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    name = engine.config.get("name") or engine.project.root.name
    folder = engine.project.root / FOLDER
    folder.mkdir(exist_ok=True)
    _ignored(engine.project.root)
    return folder / f"{name}-{label}-{stamp}.tar"


def _ignored(root: Path) -> None:
    """Projects made before backups/ was in the template's .gitignore: ignore it in this clone
    only (.git/info/exclude), so an archive is never committed or blocks `devenv update`."""
    exclude = root / ".git" / "info" / "exclude"
    if not exclude.parent.is_dir() or proc.which("git") is None:
        return
    probe = f"{FOLDER}/x.tar"
    checked = proc.run(["git", "-C", str(root), "check-ignore", "-q", probe], timeout=10)
    if checked.code == 1:  # a repository, and not ignored
        with exclude.open("a", encoding="utf-8") as handle:
            handle.write(f"\n# devenv backup's archives (your data)\n/{FOLDER}/\n")


def service_with_probe(engine: Engine, probe: str) -> services.Service:
    """The stack's service of one kind (postgres, s3), whatever it is called."""
    for service in services.from_config(engine.config):
        if service.probe == probe:
            return service
    raise StackUnhealthyError(
        f"this project has no {probe} service", hint="devenv status lists the project's services"
    )


def require_running(engine: Engine, doing: str, *probes: str) -> dict[str, str]:
    """The services of these kinds, each running: kind -> container name."""
    engine.require()
    found = {}
    for probe in probes:
        service = service_with_probe(engine, probe)
        state = engine.states().get(service.name, MISSING)
        if not state.running:
            raise StackUnhealthyError(
                f"{doing} needs the stack running, and {service.name} is {state.state}",
                hint="start it with: devenv up (nothing was changed)",
            )
        found[probe] = state.name
    return found


def bucket(engine: Engine) -> Bucket:
    store = service_with_probe(engine, "s3")
    env = engine.env
    return Bucket(
        services.base(store.url or ""),
        env.get("MLFLOW_BUCKET", "mlflow"),
        env.get("S3_ACCESS_KEY", ""),
        env.get("S3_SECRET_KEY", ""),
    )


def psql(engine: Engine, sql: str, *, database: str | None = None) -> str:
    """A query's plain output, run in the Postgres container over its socket (MLflow's
    database unless told)."""
    service = service_with_probe(engine, "postgres").name
    where = ["-d", database] if database else []
    command = (
        'exec psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$MLFLOW_DB_NAME" -tA -F "|" "$@"'
    )
    result = engine.exec(service, ["sh", "-c", command, "psql", *where, "-c", sql])
    if not result.ok:
        raise StackUnhealthyError(
            f"Postgres refused a query: {result.last_line()}",
            hint="devenv logs postgres shows why",
        )
    return result.stdout.strip()


def mlflow_counts(engine: Engine, *, database: str | None = None) -> dict[str, int]:
    """How many experiments, runs, metrics, models, versions and aliases MLflow holds (0 for
    a table not made yet: a stack MLflow never started against)."""
    parts = ", ".join(
        f"(select count(*) from {table})" if present else "0"  # noqa: S608 - our table names
        for table, present in _tables(engine, list(COUNTED.values()), database=database).items()
    )
    values = psql(engine, f"select {parts}", database=database).split("|")
    return {name: int(value) for name, value in zip(COUNTED, values, strict=True)}


# Rows of one table in a custom-format dump: the lines of its COPY block (text format escapes
# newlines, so one row is one line). $1: the dump, then the table names.
DUMP_ROWS = (
    'dump=$1; shift; for t in "$@"; do pg_restore -a -t "$t" -f - "$dump" | '
    """awk '/^COPY /{c=1;next} $0=="\\\\."{c=0} c{n++} END{print n+0}'; done"""
)


def dump_counts(engine: Engine, path: str) -> dict[str, int]:
    """MLflow's counts as the dump holds them: the same snapshot, whatever ran meanwhile."""
    service = service_with_probe(engine, "postgres").name
    done = engine.exec(service, ["sh", "-c", DUMP_ROWS, "count", path, *COUNTED.values()])
    lines = done.stdout.split()
    if not done.ok or len(lines) != len(COUNTED):
        raise StackUnhealthyError(
            f"could not read the dump back: {done.last_line()}",
            hint="devenv logs postgres shows why; nothing was written",
        )
    return {name: int(value) for name, value in zip(COUNTED, lines, strict=True)}


def _tables(engine: Engine, tables: list[str], *, database: str | None = None) -> dict[str, bool]:
    listed = ",".join(f"'{t}'" for t in tables)
    sql = f"select table_name from information_schema.tables where table_name in ({listed})"  # noqa: S608
    present = set(psql(engine, sql, database=database).split())
    return {t: t in present for t in tables}


def table_exists(engine: Engine, table: str, *, database: str | None = None) -> bool:
    return _tables(engine, [table], database=database)[table]


def dump(engine: Engine, container: str, dest: Path) -> dict[str, Any]:
    """pg_dump of MLflow's database (custom format) copied to `dest`; its facts."""
    service = service_with_probe(engine, "postgres").name
    command = (
        f'pg_dump -U "$POSTGRES_USER" -d "$MLFLOW_DB_NAME" -Fc -f {IN_VOLUME}; '
        f"code=$?; [ $code = 0 ] || rm -f {IN_VOLUME}; exit $code"
    )
    done = engine.exec(service, ["sh", "-c", command], waiting="pg_dump")
    if not done.ok:
        raise StackUnhealthyError(
            f"pg_dump failed: {done.last_line()}", hint="devenv logs postgres shows why"
        )
    try:
        counts = dump_counts(engine, IN_VOLUME)
        engine.copy_out(container, IN_VOLUME, dest)
    except DockerCommandError as error:
        raise UsageError(
            f"cannot copy the database dump to {dest.parent}: {error.message}",
            hint="free disk space there (or set TMPDIR to a folder with room), then run again",
        ) from None
    finally:
        engine.exec(service, ["rm", "-f", IN_VOLUME])
    version = psql(engine, "show server_version").split()[0]
    hashing = archive.Hashing()
    with dest.open("rb") as handle:
        for chunk in archive.chunks(handle):
            hashing.update(chunk)
    return {"file": archive.DUMP, "server_version": version, "counts": counts, **hashing.facts()}


def backup(
    engine: Engine,
    target: Path,
    *,
    include_secrets: bool = False,
    on_bytes: OnBytes | None = None,
) -> BackupResult:
    """Write the archive to `target` (already checked by devenv.core.outputs)."""
    assert engine.project is not None
    started = time.perf_counter()
    names = require_running(engine, "a backup", "postgres", "s3")
    store = bucket(engine)
    progress = on_bytes or (lambda _done, _total, _what: None)
    with (
        outputs.writing(target),
        tempfile.TemporaryDirectory(prefix="devenv-backup-") as scratch,
    ):
        dump_file = Path(scratch) / "mlflow.dump"
        progress(0, 0, "pg_dump of MLflow's database")
        dumped = dump(engine, names["postgres"], dump_file)
        counts = dumped.pop("counts")
        listed = list(store.objects())
        total = dumped["size"] + sum(o.size for o in listed)
        done = dumped["size"]
        objects = []
        with (
            outputs.atomic(target, private=include_secrets) as handle,
            tarfile.open(fileobj=handle, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            # tarfile copies in 16 kB pieces by default: slow for big objects.
            tar.copybufsize = archive.CHUNK  # type: ignore[attr-defined]
            tar.add(dump_file, arcname=archive.DUMP)
            for item in listed:
                progress(done, total, item.key)
                hashing = archive.Hashing()
                with store.read(item.key) as body:
                    reader = archive.ChunkReader(iter(body), hashing)
                    try:
                        tar.addfile(archive.member(archive.OBJECTS + item.key, item.size), reader)
                    except OSError as error:
                        if error.errno is not None:  # the disk, not the object: outputs.writing
                            raise
                        raise StackUnhealthyError(
                            f"{item.key} changed while it was copied",
                            hint="run devenv backup again (nothing was written)",
                        ) from None
                if reader.read(1):
                    raise StackUnhealthyError(
                        f"{item.key} grew while it was copied",
                        hint="run devenv backup again (nothing was written)",
                    )
                objects.append({"key": item.key, **hashing.facts()})
                done += item.size
            answers = engine.project.answers_path
            archive.add_bytes(tar, archive.ANSWERS, answers.read_bytes())
            if include_secrets:
                env = (engine.project.root / ".env").read_bytes()
                archive.add_bytes(tar, archive.ENV, env, mode=0o600)
            manifest = _manifest(engine, dumped, counts, objects, include_secrets)
            archive.add_bytes(tar, archive.MANIFEST, json.dumps(manifest, indent=2).encode())
        progress(total, total, "done")
    return BackupResult(
        path=target,
        size=target.stat().st_size,
        seconds=time.perf_counter() - started,
        objects=len(objects),
        object_bytes=sum(o["size"] for o in objects),
        counts=counts,
        secrets=include_secrets,
    )


def _manifest(
    engine: Engine,
    dumped: dict[str, Any],
    counts: dict[str, int],
    objects: list[dict[str, Any]],
    secrets: bool,
) -> dict[str, Any]:
    assert engine.project is not None
    answers = engine.project.answers()
    images = {
        name: str(spec.get("image") or "")
        for name, spec in engine.config["services"].items()
        if name in ("postgres", "objectstore", "mlflow")
    }
    return {
        "format": archive.FORMAT,
        "version": archive.VERSION,
        "devenv": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "project": engine.config.get("name"),
        "object_store": answers.get("object_store"),
        "images": images,
        "postgres": dumped,
        "mlflow": counts,
        "bucket": {
            "name": bucket(engine).bucket,
            "objects": len(objects),
            "bytes": sum(o["size"] for o in objects),
        },
        "objects": objects,
        "secrets": secrets,
    }
