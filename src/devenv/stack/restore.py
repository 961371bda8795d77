"""`devenv restore FILE`: a backup archive back into this project's running stack.

Order, so that a refusal changes nothing: the archive is read through and checked against its
manifest, the stack must be running, and a stack that already holds runs, models or objects
is refused unless `replace` (which snapshots it first). Then MLflow is stopped, its database
recreated from the dump, the bucket filled (each object signed with its SHA-256, so the store
refuses a body that differs), MLflow started, its admin given this project's password (the
dump carries the old project's login), and the result checked against the manifest.
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.core import interrupts
from devenv.core.errors import StackUnhealthyError, UsageError
from devenv.docker.engine import Engine
from devenv.stack import archive, backup
from devenv.stack.backup import IN_VOLUME, OnBytes, service_with_probe
from devenv.stack.status import MISSING

MLFLOW_WAIT = 180  # seconds for MLflow to be healthy again after the database changed

# MLflow's own auth store sets the admin's password to this project's (.env), hashed its way.
SET_ADMIN = """
import os
from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore
store = SqlAlchemyStore()
store.init_db(os.environ["MLFLOW_BACKEND_STORE_URI"])
user, password = os.environ["MLFLOW_AUTH_ADMIN_USERNAME"], os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"]
if store.has_user(user):
    store.update_user(user, password=password, is_admin=True)
else:
    store.create_user(user, password, is_admin=True)
print("admin", user)
"""


@dataclass
class RestoreResult:
    path: Path
    seconds: float
    objects: int
    object_bytes: int
    counts: dict[str, int] = field(default_factory=dict)
    snapshot: Path | None = None
    from_store: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "seconds": round(self.seconds, 2),
            "objects": self.objects,
            "object_bytes": self.object_bytes,
            "mlflow": self.counts,
            "snapshot": str(self.snapshot) if self.snapshot else None,
            "from_object_store": self.from_store,
        }


def holdings(engine: Engine) -> tuple[dict[str, int], int]:
    """What the stack holds now: MLflow's counts and the bucket's object count."""
    return backup.mlflow_counts(engine), sum(1 for _ in backup.bucket(engine).objects())


def _major(version: str) -> int:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else 0


def restore(
    engine: Engine,
    path: Path,
    *,
    replace: bool = False,
    on_bytes: OnBytes | None = None,
) -> RestoreResult:
    assert engine.project is not None
    started = time.perf_counter()
    progress = on_bytes or (lambda _done, _total, _what: None)
    tar, manifest = archive.read_manifest(path)
    with tar:
        progress(0, 0, "checking the archive against its manifest")
        archive.verify(path, tar, manifest)
        # MLflow itself may be down (a restore cut short leaves it unable to start): it is
        # stopped, then started against the restored database anyway.
        names = backup.require_running(engine, "a restore", "postgres", "s3")
        mlflow = service_with_probe(engine, "mlflow").name
        if mlflow not in engine.states():
            raise StackUnhealthyError(
                f"a restore needs the stack up, and {mlflow} has no container",
                hint="start it with: devenv up (nothing was changed)",
            )
        _check_versions(engine, manifest)
        counts, objects = holdings(engine)
        held = counts.get("runs", 0) + counts.get("registered_models", 0) + objects
        snapshot = None
        if held and not replace:
            raise UsageError(
                f"this stack already holds {counts.get('runs', 0)} run(s), "
                f"{counts.get('registered_models', 0)} model(s) and {objects} object(s): a "
                "restore would mix them with the archive's",
                hint="add --replace (it takes a backup of the stack first), or restore into a "
                "new project",
            )
        if held:
            snapshot = backup.default_path(engine, "before-restore")
            progress(0, 0, f"snapshot of the current data: {snapshot.name}")
            backup.backup(engine, snapshot, on_bytes=on_bytes)
        try:  # MLflow starts again whatever happens, Ctrl-C included (held during the stop)
            with interrupts.shielded():
                engine.stop_services([mlflow])
            _restore_database(engine, names["postgres"], tar)
            moved = _restore_objects(engine, tar, manifest, replace=bool(held), progress=progress)
        finally:
            _ensure_started(engine, mlflow)
        _wait_healthy(engine, mlflow)
        _sync_admin(engine, mlflow)
        restored = _verify(engine, manifest)
    return RestoreResult(
        path=path,
        seconds=time.perf_counter() - started,
        objects=len(manifest.objects),
        object_bytes=moved,
        counts=restored,
        snapshot=snapshot,
        from_store=manifest.data.get("object_store"),
    )


def _check_versions(engine: Engine, manifest: archive.Manifest) -> None:
    """pg_restore reads dumps of its own major version or older, never newer ones."""
    theirs = str((manifest.data.get("postgres") or {}).get("server_version") or "0")
    ours = backup.psql(engine, "show server_version").split()[0]
    if _major(theirs) > _major(ours):
        raise UsageError(
            f"the archive's database comes from Postgres {theirs}, this stack runs {ours}: "
            "Postgres cannot load a newer major version's dump",
            hint="set POSTGRES_IMAGE in .env to the archive's major version (or newer), "
            "devenv reset postgres, devenv up, then restore",
        )


def _restore_database(engine: Engine, container: str, tar: tarfile.TarFile) -> None:
    """MLflow's database dropped, made again for MLflow's role and loaded from the dump."""
    service = service_with_probe(engine, "postgres").name
    with tempfile.TemporaryDirectory(prefix="devenv-restore-") as scratch:
        local = Path(scratch) / "mlflow.dump"
        with local.open("wb") as out:
            for chunk in archive.chunks(archive.stream_member(tar, archive.DUMP)):
                out.write(chunk)
        local.chmod(0o644)  # read by pg_restore as MLflow's role, not only by root
        engine.copy_in(local, container, IN_VOLUME)
    script = (
        f'set -e; trap "rm -f {IN_VOLUME}" EXIT; '
        'dropdb -U "$POSTGRES_USER" --if-exists --force "$MLFLOW_DB_NAME"; '
        'createdb -U "$POSTGRES_USER" -O "$MLFLOW_DB_USER" "$MLFLOW_DB_NAME"; '
        'psql -U "$POSTGRES_USER" -d postgres -qc "REVOKE ALL ON DATABASE \\"$MLFLOW_DB_NAME\\" '
        'FROM PUBLIC"; '
        'pg_restore -U "$MLFLOW_DB_USER" -d "$MLFLOW_DB_NAME" --no-owner --no-privileges '
        f"--exit-on-error {IN_VOLUME}"
    )
    done = engine.exec(service, ["sh", "-c", script], waiting="pg_restore")
    if not done.ok:
        raise StackUnhealthyError(
            f"pg_restore failed: {done.last_line()}",
            hint="the stack's database may be empty now: restore the snapshot devenv printed, "
            "or run this again",
        )


def _restore_objects(
    engine: Engine,
    tar: tarfile.TarFile,
    manifest: archive.Manifest,
    *,
    replace: bool,
    progress: OnBytes,
) -> int:
    store = backup.bucket(engine)
    if replace:
        for old in list(store.objects()):
            store.delete(old.key)
    total = sum(int(o["size"]) for o in manifest.objects)
    done = 0
    for item in manifest.objects:
        progress(done, total, item["key"])
        handle = archive.stream_member(tar, archive.OBJECTS + item["key"])
        etag = store.write(
            item["key"], archive.chunks(handle), size=int(item["size"]), sha256=item["sha256"]
        )
        if _single_part(etag) and etag != item["md5"]:
            raise StackUnhealthyError(
                f"the object store kept {item['key']} with another checksum",
                hint="run the restore again with --replace",
            )
        done += int(item["size"])
    progress(total, total, "done")
    return done


def _single_part(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


def _ensure_started(engine: Engine, service: str, seconds: float = 60) -> None:
    """Start MLflow again. A stop cut short by Ctrl-C can still be under way in the engine, so
    start until it is seen running."""
    deadline = time.monotonic() + seconds
    while True:
        engine.start_services([service])
        engine.forget()
        if engine.states().get(service, MISSING).running or time.monotonic() > deadline:
            return
        time.sleep(1)


def _wait_healthy(engine: Engine, service: str) -> None:
    deadline = time.monotonic() + MLFLOW_WAIT
    while time.monotonic() < deadline:
        engine.forget()
        state = engine.states().get(service)
        if state is not None and state.health in ("healthy", None) and state.running:
            return
        time.sleep(2)
    raise StackUnhealthyError(
        f"{service} did not become healthy after the restore",
        hint=f"devenv logs {service} shows why",
    )


def _sync_admin(engine: Engine, mlflow: str) -> None:
    if engine.env.get("MLFLOW_AUTH", "basic") == "off":
        return
    done = engine.exec(mlflow, ["python", "-c", SET_ADMIN])
    if not done.ok:
        raise StackUnhealthyError(
            f"MLflow's admin could not be given this project's password: {done.last_line()}",
            hint="the data is restored; see docs/security.md to set the password by hand",
        )


def _verify(engine: Engine, manifest: archive.Manifest) -> dict[str, int]:
    """MLflow's counts and the bucket's objects (key, size, ETag) as the manifest says."""
    counts = backup.mlflow_counts(engine)
    expected = manifest.counts
    differ = [k for k in expected if counts.get(k) != expected[k]]
    if differ:
        name = differ[0]
        raise StackUnhealthyError(
            f"after the restore MLflow holds {counts.get(name)} {name}, the archive "
            f"{expected[name]}",
            hint="run the restore again with --replace; devenv logs mlflow shows errors",
        )
    stored = {o.key: o for o in backup.bucket(engine).objects()}
    for item in manifest.objects:
        found = stored.get(item["key"])
        if found is None or found.size != int(item["size"]):
            raise StackUnhealthyError(
                f"after the restore the bucket lacks {item['key']} (or holds another size)",
                hint="run the restore again with --replace",
            )
        if _single_part(found.etag) and found.etag != item["md5"]:
            raise StackUnhealthyError(
                f"after the restore {item['key']} has another checksum",
                hint="run the restore again with --replace",
            )
    return counts
