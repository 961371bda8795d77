"""devenv new and devenv update: a project from the template, and the template's changes
brought into it."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from devenv.cli.base import (
    DataOption,
    JsonOption,
    RefOption,
    TemplateOption,
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


def update(
    *,
    data: DataOption = None,
    template: TemplateOption = None,
    vcs_ref: RefOption = None,
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

    result = update_project(project(), parse_data(data or []), template=template, vcs_ref=vcs_ref)
    views().update(result, as_json=json_output)
