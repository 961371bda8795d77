"""The `devenv` command line: one module per command group, registered here in the order
`devenv --help` lists them. Thin: each command parses, calls one use case, renders it, and
ends through `base.finish`.

`main` is the only place that exits: every expected failure is a DevenvError caught there.
"""

from __future__ import annotations

from typing import Annotated

import typer

# Only what every run needs is imported here; each command imports its own use case, so that
# --help, --version and completion stay fast (python-on-whales, httpx, yaml, copier load late).
from devenv import __version__
from devenv.cli import canary, checks, data, images, inspect, k8s, lifecycle, project
from devenv.cli.base import EXIT_CODES, Group, register
from devenv.core.errors import DevenvError
from devenv.ui import console

app = typer.Typer(
    name="devenv",
    help=(
        "A local ML platform in minutes: JupyterLab, MLflow, Postgres, S3 and model serving on "
        "Docker Compose.\n\nStart with: devenv new my-project, then devenv up. A teammate's "
        "clone: scripts/onboard.sh (or devenv onboard)."
    ),
    epilog=EXIT_CODES,
    cls=Group,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,  # click's plain help: --help needs no rich (make bench-cli)
    pretty_exceptions_show_locals=False,  # .env holds secrets: never print locals
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.out.print(f"devenv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_version,
            is_eager=True,
            help="Print the version.",
        ),
    ] = False,
) -> None:
    """ml-devenv command line."""


# The commands, in the order `devenv --help` and docs/cli.md list them.
for function, name in (
    (project.new, None),
    (project.update, None),
    (project.add, None),
    (project.lock, None),
    (inspect.urls, None),
    (inspect.status, None),
    (lifecycle.up, None),
    (checks.gpu_check, "gpu-check"),
    (checks.doctor, None),
    (checks.onboard, None),
    (checks.smoke, None),
    (checks.test, None),
    (lifecycle.restart, None),
    (lifecycle.reset, None),
    (lifecycle.down, None),
    (data.backup, None),
    (data.restore, None),
    (inspect.logs, None),
    (inspect.env, "env"),
):
    register(app, function, name)

register(canary.app, canary.start, "start")
# A share like -5 is an argument (and refused as a percent), not an unknown option.
register(canary.app, canary.set_, "set", ignore_unknown_options=True)
register(canary.app, canary.status, "status")
register(canary.app, canary.promote, "promote")
register(canary.app, canary.rollback, "rollback")
register(k8s.app, k8s.render, "render")
register(k8s.app, k8s.validate, "validate")
register(k8s.app, k8s.apply, "apply")
register(k8s.app, k8s.status, "status")
register(images.app, images.push, "push")
register(images.app, images.promote, "promote")
register(images.app, images.tags, "tags")
for sub in (canary.app, k8s.app, images.app):
    app.add_typer(sub)

# Aliases users know from Supabase, Astro and compose itself.
for alias, target, summary in (
    ("start", lifecycle.up, "build, start and health-check the stack (devenv start jupyter)."),
    ("stop", lifecycle.down, "stop and remove the containers; volumes and data are kept."),
):
    register(app, target, alias, help=f"Same as devenv {target.__name__}: {summary}")
register(app, inspect.ps, "ps")
register(app, inspect.exec_, "exec", allow_interspersed_args=False, ignore_unknown_options=True)
register(app, inspect.open_, "open")


def main() -> None:
    """Console-script entry point: the one place errors become exit codes."""
    from devenv.core import notice

    notice.listen(console.info)  # slow steps say what they wait for
    try:
        code = app(standalone_mode=False)
    except DevenvError as error:
        if error.details:
            console.err.print(error.details, markup=False, highlight=False)
        console.error(error.message, error.hint)
        raise SystemExit(error.exit_code) from None
    except KeyboardInterrupt:
        console.error("interrupted", "nothing was left half-written")
        raise SystemExit(130) from None
    except OSError as error:
        # A disk or permission problem nobody foresaw: still one line, never a traceback.
        where = f" ({error.filename})" if error.filename else ""
        console.error(
            f"{error.strerror or error}{where}", "check the path and its permissions, then retry"
        )
        raise SystemExit(1) from None
    except typer.Abort:
        console.error("aborted")
        raise SystemExit(130) from None
    except Exception as error:
        # Usage errors (click's, vendored by typer): duck-typed to work across typer versions.
        show, exit_code = getattr(error, "show", None), getattr(error, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            raise SystemExit(exit_code) from None
        raise
    raise SystemExit(code if isinstance(code, int) else 0)
