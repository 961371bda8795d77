"""The platform's data: backup and restore (docs/data-safety.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devenv.cli.base import ForceOption, JsonOption, engine, finish, interruptible, views


def backup(
    *,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Archive to write (default: backups/<project>-backup-<UTC time>.tar).",
        ),
    ] = None,
    include_secrets: Annotated[
        bool,
        typer.Option(
            "--include-secrets", help="Also store .env (the archive is then written 0600)."
        ),
    ] = False,
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """Back up MLflow's database and every artifact into one archive, from the running stack.

    A consistent pg_dump of MLflow's database, every object of the bucket (through the S3
    API, so any object store), the project's answers and a manifest with counts and a
    checksum per object. .env only with --include-secrets. Restore with devenv restore.

    Examples:

      devenv backup

      devenv backup -o ~/mlflow-2026-12.tar --include-secrets

      devenv backup --json
    """
    from devenv.core import outputs
    from devenv.stack import backup as taking
    from devenv.ui import transfer

    stack = engine()
    assert stack.project is not None
    target = outputs.check(
        output or taking.default_path(stack),
        root=stack.project.root,
        force=force,
        flag="-o",
        new=True,
    )
    with (
        interruptible("nothing was written (the partial archive was removed)"),
        transfer.bar("backup") as on_bytes,
    ):
        result = taking.backup(stack, target, include_secrets=include_secrets, on_bytes=on_bytes)
    views().backup(result, as_json=json_output)
    finish(success=f"backup written: {result.path}")


def restore(
    archive: Annotated[
        Path, typer.Argument(metavar="FILE", help="An archive devenv backup wrote.")
    ],
    *,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace the runs, models and artifacts this stack holds (backed up first).",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Restore a backup into this project's running stack, then verify it.

    The archive is checked against its manifest before anything changes. A stack that already
    holds runs, models or artifacts is refused unless --replace, which backs it up first
    (backups/). Works across object stores (SeaweedFS, MinIO, RustFS). MLflow's admin keeps
    this project's password from .env.

    Examples:

      devenv restore backups/demo-backup-20261201-120000.tar

      devenv restore old-laptop.tar --replace
    """
    from devenv.stack import restore as restoring
    from devenv.ui import transfer

    stack = engine()
    with (
        interruptible(
            "the restore was cut short: the stack may hold part of the archive; run it again with "
            "--replace"
        ),
        transfer.bar("restore") as on_bytes,
    ):
        result = restoring.restore(stack, archive, replace=replace, on_bytes=on_bytes)
    views().restored(result, as_json=json_output)
    finish(success=f"restored and verified in {result.seconds:.1f}s")
