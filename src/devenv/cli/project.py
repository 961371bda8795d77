"""devenv new and devenv update: a project from the template, and the template's changes
brought into it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from devenv.cli.base import (
    DataOption,
    JsonOption,
    RefOption,
    TemplateOption,
    engine,
    engine_for,
    interruptible,
    path_argument,
    project,
    views,
)


def new(
    dest: Annotated[
        str, typer.Argument(metavar="DEST", help="Folder to create the project in.")
    ] = "my-ml-project",
    *,
    data: DataOption = None,
    defaults: Annotated[
        bool,
        typer.Option("--defaults", help="Use the default for every unanswered question."),
    ] = False,
    template: TemplateOption = None,
    vcs_ref: RefOption = None,
    git: Annotated[
        bool,
        typer.Option(
            metavar="", help="Make the project a git repository (needed by devenv update)."
        ),
    ] = True,
    json_output: JsonOption = False,
) -> None:
    """Create a project from the template (asks questions unless --defaults or no terminal).

    Examples:

      devenv new my-project --defaults

      devenv new my-project -d object_store=minio -d gpu=none -d include_serving=false
    """
    from devenv.scaffold.new import new_project
    from devenv.scaffold.template import parse_data

    folder = path_argument(dest, what="DEST")
    started = time.monotonic()
    with interruptible("nothing was written"):
        result = new_project(
            folder,
            parse_data(data or []),
            defaults=defaults,
            template=template,
            vcs_ref=vcs_ref,
            git_init=git,
        )
    views().new(result, time.monotonic() - started, as_json=json_output)
    _warn_leftover_volumes(result.dest)


def _warn_leftover_volumes(root: Path) -> None:
    """Volumes of an earlier project of the same compose name would be reused by this one,
    whose fresh secrets cannot open them (Postgres: "password authentication failed")."""
    from devenv.core.errors import DevenvError
    from devenv.core.project import Project
    from devenv.stack import preflight
    from devenv.ui import console

    try:
        found = preflight.project_volumes(engine_for(Project(root.resolve())))
    except DevenvError:  # no engine here: nothing to reuse
        return
    if found:
        console.warn(
            f"volumes of an earlier project named like this one exist ({', '.join(found)}): "
            "this project's new secrets cannot open them. Remove them (docker volume rm "
            f"{' '.join(found)}) or set another COMPOSE_PROJECT_NAME in .env before devenv up"
        )


def update(
    *,
    data: DataOption = None,
    template: TemplateOption = None,
    vcs_ref: RefOption = None,
    backup_first: Annotated[
        bool,
        typer.Option(
            "--backup", help="Back up the running stack's data (devenv backup) before updating."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Update this project from its template, keeping your edits, secrets and settings.

    The template comes from the source the project records (.copier-answers.yml), at its
    newest release, unless --template / --vcs-ref say otherwise. Needs a clean git tree.
    Conflicts are left inline between <<<<<<< and >>>>>>> markers and the command exits
    non-zero. A file you edited that the template dropped is kept; .env keeps every value and
    gains the keys new in .env.example.

    Examples:

      devenv update

      devenv update -d object_store=seaweedfs --json

      devenv update --template https://github.com/ml-devenv/ml-devenv.git --vcs-ref main
    """
    from devenv.scaffold.template import parse_data
    from devenv.scaffold.update import update_project

    wanted = parse_data(data or [])
    if backup_first:
        from devenv.stack import backup
        from devenv.ui import console, transfer

        stack = engine()
        target = backup.default_path(stack, "before-update")
        with interruptible("nothing was updated"), transfer.bar("backup") as on_bytes:
            backup.backup(stack, target, on_bytes=on_bytes)
        console.info(f"backed up first: {target}")
    result = update_project(project(), wanted, template=template, vcs_ref=vcs_ref)
    views().update(result, as_json=json_output)


def add(
    packages: Annotated[
        list[str], typer.Argument(metavar="PACKAGE", help="Requirements, e.g. polars==1.2.0.")
    ],
    *,
    group: Annotated[
        str,
        typer.Option(
            "--group", "-g", metavar="GROUP", help="train, serving, dev or jupyter (the image)."
        ),
    ] = "train",
    json_output: JsonOption = False,
) -> None:
    """Add Python packages to the project: pyproject.toml, uv.lock and the images' lock files.

    uv resolves the package for every platform and records each file's hash; the images whose
    requirements.lock changed rebuild on the next `devenv up` (only their package layer).
    Groups: train (what training imports; in the JupyterLab image), serving (the serving image;
    JupyterLab too, where its tests run), dev (test tools), jupyter (JupyterLab alone).

    Examples:

      devenv add polars==1.2.0

      devenv add lightgbm==4.6.0 --group serving
    """
    from devenv.scaffold import deps

    with interruptible("nothing was added"):
        result = deps.add(project().root, packages, group)
    views().locked(result, f"added {' '.join(packages)} to {group}", as_json=json_output)


def lock(
    *,
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; fail if a lock file is out of date.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Re-resolve uv.lock and write the images' lock files from it (after a hand edit).

    For pyproject.toml's dependency groups edited by hand (a version bumped, a package
    removed): uv resolves them into uv.lock, and each image's services/*/requirements.lock is
    exported from it. With --check nothing changes: it fails when either is out of date.

    Examples:

      devenv lock

      devenv lock --check
    """
    from devenv.scaffold import deps

    with interruptible("the lock files are as they were"):
        result = deps.lock(project().root, check=check)
    views().locked(result, "lock files up to date" if check else "locked", as_json=json_output)
