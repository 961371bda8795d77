"""`devenv restore FILE`: a backup archive back into this project's running stack.

Order, so that a refusal changes nothing: the archive is read through and checked against its
manifest, the stack must be running, and a stack that already holds runs, models or objects
is refused unless `replace` (which snapshots it first). Then the dump is loaded into a database
of its own, where MLflow's admin gets this project's password (the dump carries the old
project's login), and the objects are added to the bucket (each signed with its SHA-256, so
the store refuses a body that differs): what MLflow shows is unchanged until MLflow is stopped
and the two databases swap names (Ctrl-C held for that moment). MLflow starts again, objects
the archive lacks go (with `replace`), and the result is checked against the manifest.
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.clients.mlflow import login
from devenv.core import interrupts
from devenv.core.errors import StackUnhealthyError, UsageError
from devenv.docker.engine import Engine
from devenv.stack import archive, backup
from devenv.stack.backup import IN_VOLUME, OnBytes, service_with_probe
from devenv.stack.status import MISSING

MLFLOW_WAIT = 180  # seconds for MLflow to be healthy again after the database changed


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
        # Staged where MLflow does not look: the dump into a database of its own, the objects
        # added beside the ones there. Ctrl-C until the swap leaves what MLflow shows as it was.
        _stage_database(engine, names["postgres"], tar)
        _admin_password(engine)
        moved = _restore_objects(engine, tar, manifest, progress=progress)
        # Checked before the swap, where nothing else writes: exact, and nothing changed yet.
        restored = _verify(engine, manifest)
        try:  # the swap, whole or not at all: Ctrl-C is held, and MLflow starts again after it
            with interrupts.shielded():
                engine.stop_services([mlflow])
                _swap_database(engine)
        finally:
            _ensure_started(engine, mlflow)
        if held:
            _prune(engine, manifest)
        _wait_healthy(engine, mlflow)
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


# The staged copy of MLflow's database, and the old one for the moment of the swap.
STAGED, REPLACED = "_devenv_restoring", "_devenv_replaced"


def _pg(engine: Engine, command: list[str], doing: str) -> None:
    """A Postgres client command in the Postgres container, as an argument list (no shell:
    names are passed as they are)."""
    service = service_with_probe(engine, "postgres").name
    done = engine.exec(service, command, waiting=doing)
    if not done.ok:
        raise StackUnhealthyError(
            f"{doing} failed: {done.last_line()}",
            hint="MLflow's database is as it was: devenv logs postgres shows why",
        )


def _names(engine: Engine) -> tuple[str, str, str]:
    """(superuser, MLflow's role, MLflow's database) as compose gives them to Postgres."""
    env = engine.config["services"][service_with_probe(engine, "postgres").name]["environment"]
    return env["POSTGRES_USER"], env["MLFLOW_DB_USER"], env["MLFLOW_DB_NAME"]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql(engine: Engine, *statements: str, doing: str, database: str = "postgres") -> None:
    admin, _role, _db = _names(engine)
    command = ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-U", admin, "-d", database]
    for statement in statements:
        command += ["-c", statement]
    _pg(engine, command, doing)


def _stage_database(engine: Engine, container: str, tar: tarfile.TarFile) -> None:
    """The dump loaded into a database of its own (MLflow's name + STAGED), owned by MLflow's
    role; MLflow's own database is not touched."""
    _admin, role, db = _names(engine)
    with tempfile.TemporaryDirectory(prefix="devenv-restore-") as scratch:
        local = Path(scratch) / "mlflow.dump"
        with local.open("wb") as out:
            for chunk in archive.chunks(archive.stream_member(tar, archive.DUMP)):
                out.write(chunk)
        local.chmod(0o644)  # read by pg_restore as MLflow's role, not only by root
        engine.copy_in(local, container, IN_VOLUME)
    staged = db + STAGED
    try:
        _sql(
            engine,
            f"DROP DATABASE IF EXISTS {_ident(staged)} WITH (FORCE)",
            f"CREATE DATABASE {_ident(staged)} OWNER {_ident(role)}",
            f"REVOKE ALL ON DATABASE {_ident(staged)} FROM PUBLIC",
            doing="making the database to restore into",
        )
        _pg(
            engine,
            ["pg_restore", "-U", role, "-d", staged, "--no-owner", "--no-privileges",
             "--exit-on-error", IN_VOLUME],
            "pg_restore",
        )  # fmt: skip
    finally:
        engine.exec(service_with_probe(engine, "postgres").name, ["rm", "-f", IN_VOLUME])


def _swap_database(engine: Engine) -> None:
    """The staged database becomes MLflow's in two renames, one transaction (MLflow stopped):
    both or neither. Then the old one is dropped."""
    _admin, _role, db = _names(engine)
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608 - a quoted literal
        f"WHERE datname = {_literal(db)} AND pid <> pg_backend_pid()"
    )
    _sql(
        engine,
        terminate,
        # One -c string with two statements: psql sends it as one transaction.
        f"ALTER DATABASE {_ident(db)} RENAME TO {_ident(db + REPLACED)}; "
        f"ALTER DATABASE {_ident(db + STAGED)} RENAME TO {_ident(db)}",
        f"DROP DATABASE {_ident(db + REPLACED)} WITH (FORCE)",
        doing="the database swap",
    )


def _prune(engine: Engine, manifest: archive.Manifest) -> None:
    """--replace: objects the archive does not have are deleted, after the swap."""
    keep = {o["key"] for o in manifest.objects}
    store = backup.bucket(engine)
    for old in [o for o in store.objects() if o.key not in keep]:
        store.delete(old.key)


def _restore_objects(
    engine: Engine,
    tar: tarfile.TarFile,
    manifest: archive.Manifest,
    *,
    progress: OnBytes,
) -> int:
    store = backup.bucket(engine)
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
    """MLflow healthy by Docker's own check, so `devenv status` agrees the moment we return."""
    deadline = time.monotonic() + MLFLOW_WAIT
    while time.monotonic() < deadline:
        engine.forget()
        state = engine.states().get(service, MISSING)
        if state.running and state.health in ("healthy", None):
            return
        time.sleep(0.5)
    raise StackUnhealthyError(
        f"{service} did not become healthy after the restore",
        hint=f"devenv logs {service} shows why",
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def password_hash(password: str, salt: str | None = None) -> str:
    """The hash MLflow's login keeps (werkzeug's default, scrypt:32768:8:1$salt$hex): made
    here, so the restored database carries this project's admin before MLflow ever sees it."""
    import hashlib
    import secrets
    import string

    salt = salt or "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    n, r, p = 32768, 8, 1
    digest = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
    ).hex()
    return f"scrypt:{n}:{r}:{p}${salt}${digest}"


def _admin_password(engine: Engine) -> None:
    """The dump carries the old project's login: its admin gets this project's password (from
    .env) in the staged database, or is added; other users keep theirs. A dump without MLflow's
    login tables (it was off) is left to MLflow, which makes them at start."""
    signed_in = login(engine.env)
    _admin, _role, db = _names(engine)
    if signed_in is None or not backup.table_exists(engine, "users", database=db + STAGED):
        return
    user, password = signed_in
    upsert = (
        "INSERT INTO users (username, password_hash, is_admin) VALUES "  # noqa: S608 - quoted
        f"({_literal(user)}, {_literal(password_hash(password))}, true) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, "
        "is_admin = true"
    )
    _sql(
        engine,
        upsert,
        doing="giving MLflow's admin this project's password",
        database=db + STAGED,
    )


def _verify(engine: Engine, manifest: archive.Manifest) -> dict[str, int]:
    """The staged database's counts and the bucket's objects (key, size, ETag) as the manifest
    says; before the swap, so a failure leaves what MLflow shows as it was."""
    _admin, _role, db = _names(engine)
    counts = backup.mlflow_counts(engine, database=db + STAGED)
    expected = manifest.counts
    differ = [k for k in expected if counts.get(k) != expected[k]]
    if differ:
        name = differ[0]
        raise StackUnhealthyError(
            f"the restored database holds {counts.get(name)} {name}, the archive {expected[name]}",
            hint="nothing was swapped in: MLflow shows its data as before; devenv logs postgres",
        )
    stored = {o.key: o for o in backup.bucket(engine).objects()}
    for item in manifest.objects:
        found = stored.get(item["key"])
        if found is None or found.size != int(item["size"]):
            raise StackUnhealthyError(
                f"after the upload the bucket lacks {item['key']} (or holds another size)",
                hint="nothing was swapped in; run the restore again",
            )
        if _single_part(found.etag) and found.etag != item["md5"]:
            raise StackUnhealthyError(
                f"after the upload {item['key']} has another checksum",
                hint="nothing was swapped in; run the restore again",
            )
    return counts
