"""What every command module shares: the help classes, the options, and the few helpers a
command body is made of: find the Engine, show progress, render (ui.views), and `finish`, the
one way a command turns its outcome into an exit.

Only typer and devenv.core.errors load here: --help and --version must stay fast, so each
command imports its use case inside its body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from devenv.core.errors import DevenvError, InterruptedByUserError, exit_codes

if TYPE_CHECKING:
    from types import ModuleType

    from devenv.core.project import Project
    from devenv.core.result import Result
    from devenv.docker.engine import Engine
    from devenv.docker.progress import Progress
    from devenv.ui.console import LiveTable

# Every command's help ends with the exit codes: scripts branch on them (docs/cli.md).
EXIT_CODES = "Exit codes: " + ", ".join(f"{code} {label}" for code, label in exit_codes()) + "."


def _plain_help(params: list[Any]) -> list[Any]:
    """Help without Python types: a flag takes no value and an argument names its own."""
    for param in params:
        if getattr(param, "is_flag", False) or param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None
    return params


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))

    def get_short_help_str(self, limit: int = 45) -> str:
        """The whole first line in `devenv --help`, wrapped, never cut at 45 characters."""
        text = self.short_help or (self.help or "").strip().split("\n\n")[0]
        return " ".join(text.split())


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))


def register(
    app: typer.Typer,
    function: Callable[..., Any],
    name: str | None = None,
    *,
    help: str | None = None,
    **settings: Any,
) -> None:
    """Add a command: plain help, the exit codes below it (`settings`: click's context)."""
    app.command(
        name=name,
        cls=Command,
        epilog=EXIT_CODES,
        help=help,
        context_settings=settings or None,
    )(function)


def group(name: str, help_text: str) -> typer.Typer:
    """A command group (`devenv canary …`): plain help with examples, exit codes below."""
    return typer.Typer(
        name=name,
        cls=Group,
        no_args_is_help=True,
        rich_markup_mode=None,
        help=help_text,
        epilog=EXIT_CODES,
    )


# ---------------------------------------------------------------- shared options

DataOption = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        "-d",
        metavar="KEY=VALUE",
        help="Answer a template question, e.g. -d object_store=minio -d gpu=none (repeatable).",
    ),
]
TemplateOption = Annotated[
    str | None,
    typer.Option(
        metavar="SRC",
        help="Template source (git URL or path) instead of the one the project records.",
    ),
]
RefOption = Annotated[
    str | None,
    typer.Option("--vcs-ref", metavar="REF", help="Template git tag or commit to use."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="Never contact the team registry (IMAGE_REGISTRY): use local images, build the rest.",
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="Let an output file replace one of the project's own files (.env, ...)."
    ),
]
ServicesArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="SERVICE", help="Services to act on (default: all).", show_default=False
    ),
]


# ---------------------------------------------------------------- helpers of a command body


@contextmanager
def interruptible(hint: str) -> Iterator[None]:
    """Ctrl-C becomes one clear line and exit 130 (typer alone would exit silently)."""
    try:
        yield
    except KeyboardInterrupt:
        raise InterruptedByUserError("interrupted", hint=hint) from None


def project() -> Project:
    from devenv.core.project import find_project

    return find_project()


def engine(
    *, every_profile: bool = False, profiles: Sequence[str] = (), anywhere: bool = False
) -> Engine:
    """The command's one Engine, for the project around the current folder. `every_profile`:
    the optional services too (the canary's), for commands that act on whatever runs;
    `anywhere`: outside a project too (doctor), for the machine alone."""
    from devenv.core.errors import ProjectNotFoundError
    from devenv.docker.engine import Engine

    found: Project | None
    try:
        found = project()
    except ProjectNotFoundError:
        if not anywhere:
            raise
        found = None
    return Engine(found, profiles=["*"] if every_profile else list(profiles))


def engine_for(found: Project | None) -> Engine:
    """An Engine for a project made during the command (devenv onboard creates one)."""
    from devenv.docker.engine import Engine

    return Engine(found)


def views() -> ModuleType:
    """What commands show (imported late: rich and the use cases load only when needed)."""
    from devenv.ui import views as shown

    return shown


def live(renderer: LiveTable) -> Callable[[Progress], None]:
    """`on_progress` for a use case that starts services: the live table on stderr."""
    from devenv.ui import tables

    return lambda progress: renderer.update(tables.progress(progress), progress.rows)


def live_table() -> LiveTable:
    from devenv.ui.console import LiveTable

    return LiveTable()


def path_argument(text: str, *, what: str) -> Path:
    """A path the user typed: an empty one is a mistake, not the current folder."""
    from devenv.core.errors import UsageError

    if not text.strip():
        raise UsageError(f"{what} is empty", hint=f"name a folder, e.g. my-project for {what}")
    return Path(text)


def finish(
    outcome: DevenvError | Iterable[Result] | None = None, *, success: str | None = None
) -> None:
    """The one way a command ends: raise its failure (an error from the use case, or the first
    failing result, as its own error class), else say `success` on stderr and exit 0."""
    from devenv.core.result import first_failure

    if isinstance(outcome, DevenvError):
        raise outcome
    if outcome is not None and (failed := first_failure(outcome)):
        failed.raise_if_failed()
    if success:
        from devenv.ui import console

        console.success(success)
