"""The stack's lifecycle: up (also start), down (also stop), restart, reset."""

from __future__ import annotations

from typing import Annotated

import typer

from devenv.cli.base import (
    JsonOption,
    OfflineOption,
    ServicesArgument,
    engine,
    finish,
    interruptible,
    live,
    live_table,
    views,
)


def up(
    names: ServicesArgument = None,
    *,
    build: Annotated[
        bool | None,
        typer.Option(
            "--build/--no-build",
            help="Build every image here / never build or pull (default: each image is used "
            "if up to date here, else pulled from IMAGE_REGISTRY, else built).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        int,
        typer.Option(
            min=1, metavar="SECONDS", help="Seconds to wait for every service to be healthy."
        ),
    ] = 600,
    gpu: Annotated[
        str,
        typer.Option(
            metavar="MODE",
            help="auto: the GPU overlay when the host can run it; nvidia: require it; none: CPU.",
        ),
    ] = "auto",
    offline: OfflineOption = False,
    json_output: JsonOption = False,
) -> None:
    """Build, start and health-check the stack, with live progress; safe to run again.

    Before anything starts it checks the engine, compose (v2.20+), unresolved update
    conflicts and that every host port is free. Each image is named by its content (its
    build files and arguments): one already here is used, one the team registry holds
    (IMAGE_REGISTRY in .env.example) is pulled, only the rest is built. After start-up each
    service must pass a real probe (see devenv status). Also: devenv start.

    Examples:

      devenv up

      devenv up jupyter --build

      devenv up --offline

      devenv up --gpu none --timeout 900
    """
    from devenv.stack import start, status
    from devenv.ui import console

    mode, note = start.parse_gpu_mode(gpu)
    if note:
        console.info(note)
    stack = engine()
    renderer = live_table()
    with (
        interruptible(
            "containers that had started keep running: devenv status shows them, devenv down "
            "stops them"
        ),
        renderer,
    ):
        result = start.up(
            stack,
            names or [],
            build=build,
            timeout=timeout,
            gpu=mode,
            on_progress=live(renderer),
            offline=offline,
        )
    views().up(result, stack.env.get("JUPYTER_TOKEN"), as_json=json_output)
    finish(
        status.unhealthy(result.statuses, started=True),
        success=f"stack up and working in {result.seconds:.1f}s",
    )


def restart(names: ServicesArgument = None) -> None:
    """Restart services (all by default); their data is kept.

    Examples:

      devenv restart

      devenv restart serving mlflow
    """
    from devenv.stack import lifecycle

    lifecycle.restart(engine(every_profile=True), names or [])
    what = ", ".join(names) if names else "all services"
    finish(success=f"restarted {what}; check with: devenv status")


def reset(
    names: ServicesArgument = None,
    *,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")] = False,
    backup_first: Annotated[
        bool,
        typer.Option(
            "--backup", help="Take a backup (devenv backup) into backups/ before deleting."
        ),
    ] = False,
) -> None:
    """DELETE data: stop services and remove their volumes (all by default). Asks first.

    With --backup the running stack is backed up first (MLflow's database and every
    artifact); devenv restore FILE brings it back.

    Examples:

      devenv reset objectstore

      devenv reset --backup --yes

      devenv reset --yes
    """
    from devenv.stack import lifecycle

    stack = engine(every_profile=True)
    plans = lifecycle.reset_plan(stack, names or [])
    if not views().confirm_deletion(plans, yes=yes, backup=backup_first):
        raise typer.Exit(0 if not plans else 1)
    if backup_first:
        from devenv.stack import backup
        from devenv.ui import console, transfer

        target = backup.default_path(stack, "before-reset")
        with interruptible("nothing was deleted"), transfer.bar("backup") as on_bytes:
            backup.backup(stack, target, on_bytes=on_bytes)
        console.info(f"backed up first: {target} (devenv restore {target.name} brings it back)")
    deleted = lifecycle.reset(stack, plans, names or [])
    finish(success=f"deleted {len(deleted)} volume(s); devenv up starts afresh")


def down() -> None:
    """Stop and remove the containers. Volumes, and so all your data, are kept.

    Also: devenv stop.

    Examples:

      devenv down
    """
    from devenv.stack import lifecycle

    found = lifecycle.down(engine(every_profile=True))
    if found is not None:
        from devenv.ui import console

        console.warn(
            f".env is missing or unreadable: stopped {len(found)} container(s) found by their "
            "compose labels"
        )
    finish(success="stopped; volumes kept (your data is safe)")
