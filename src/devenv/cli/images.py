"""devenv images: the project's images in a registry, pushed by git SHA and promoted by digest
(docs/registry.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from devenv.cli.base import (
    JsonOption,
    engine,
    finish,
    group,
    interruptible,
    live,
    live_table,
    views,
)

app = group(
    "images",
    "The project's images in a registry: push them by git SHA, promote a stage to the "
    "next by digest, never rebuilding (docs/registry.md).\n\nExamples:\n\n"
    "  devenv images push\n\n  devenv images promote dev staging",
)
RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        metavar="HOST:PORT[/PATH]",
        help="Another registry (default: IMAGE_REGISTRY if set, else the project's own, "
        "profile registry, REGISTRY_PORT).",
    ),
]


def push(
    services: Annotated[
        list[str] | None,
        typer.Argument(metavar="SERVICE", help="Images to push (default: every built one)."),
    ] = None,
    *,
    registry: RegistryOption = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag instead of the git SHA.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Push the images compose builds as <registry>/<project>/<service>:<git sha>, :dev and
    their content tag (what devenv up on a teammate's machine pulls), record their digests and
    an SBOM each in .devenv/ (the project's registry starts if needed). Credentials are
    docker's own (docker login), never .env.

    Examples:

      devenv images push

      devenv images push serving --json
    """
    from devenv.release import images

    renderer = live_table()
    with interruptible("some images may be pushed: push again, it is idempotent"), renderer:
        results = images.push(
            engine(every_profile=True),
            services or [],
            address=registry,
            tag=tag,
            on_step=views().phase,
            on_progress=live(renderer),
        )
    views().checks(results, as_json=json_output)
    finish(results, success=f"{len(results)} image(s) pushed and tagged {images.FIRST_STAGE}")


def tags(
    services: Annotated[
        list[str] | None,
        typer.Argument(metavar="SERVICE", help="Images to name (default: every built one)."),
    ] = None,
    *,
    json_output: JsonOption = False,
) -> None:
    """Each image's content tag: a hash of its build files, arguments, target and platform.
    The same on every machine for the same commit; CI pushes under it, devenv up pulls it.

    Examples:

      devenv images tags

      devenv images tags serving --json
    """
    from devenv.release import images

    plans = images.content_tags(engine(every_profile=True), services or [])
    views().content_tags(plans, as_json=json_output)


def promote(
    source: Annotated[str, typer.Argument(metavar="FROM", help="The stage to copy: dev.")],
    target: Annotated[str, typer.Argument(metavar="TO", help="The stage to create: staging.")],
    *,
    registry: RegistryOption = None,
    json_output: JsonOption = False,
) -> None:
    """Tag every project image of one stage with the next, by digest through the registry's
    API: the same manifest, nothing rebuilt or pulled.

    Examples:

      devenv images promote dev staging

      devenv images promote staging prod --json
    """
    from devenv.release import images

    results = images.promote(engine(every_profile=True), source, target, address=registry)
    views().checks(results, as_json=json_output)
    finish(results, success=f"{len(results)} image(s) promoted {source} -> {target}")
