"""Looking at the stack and reaching into it: status, urls, ps, logs, env, exec, open."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Any

import typer

from devenv.cli.base import (
    JsonOption,
    ServicesArgument,
    engine,
    finish,
    interruptible,
    views,
)


class EnvFormat(str, Enum):
    """How `devenv env` writes the settings."""

    dotenv = "dotenv"
    shell = "shell"
    json = "json"


def urls(*, json_output: JsonOption = False) -> None:
    """Where each service of this project answers (read from compose.yaml's labels).

    Optional services (the canary gateway, the image registry) are listed with the profile
    that starts them.

    Examples:

      devenv urls

      devenv urls --json | jq -r '.[] | select(.name == "mlflow") | .url'
    """
    from devenv.core import services

    views().urls(services.from_config(engine(every_profile=True).config), as_json=json_output)


def status(
    names: ServicesArgument = None,
    *,
    json_output: JsonOption = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh every 2 s until Ctrl-C.")
    ] = False,
) -> None:
    """Is each service running, healthy, and really working? Exit 0 only when all pass.

    Optional services (canary, registry) are checked while they run, or when named.

    Probes are real calls: an MLflow REST query, an S3 bucket listing, SELECT 1 in Postgres,
    Jupyter's API with the token, the serving API's /health.

    Examples:

      devenv status

      devenv status mlflow --json

      devenv status --watch
    """
    from devenv.stack import status as checking

    stack = engine(every_profile=True)
    if watch:

        def table() -> Any:
            stack.forget()  # .env may change between refreshes
            return views().status_table(checking.status(stack, names or []))

        views().watch(table, every=2.0)
        return
    results = checking.status(stack, names or [])
    views().status(results, as_json=json_output)
    finish(checking.unhealthy(results))


def logs(
    service: Annotated[
        str | None, typer.Argument(metavar="SERVICE", help="One service (default: all).")
    ] = None,
    *,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    since: Annotated[
        str | None, typer.Option(metavar="WHEN", help="Only newer lines: 10m, 2h, or a timestamp.")
    ] = None,
    tail: Annotated[
        int, typer.Option(metavar="LINES", help="Lines per service to start with.")
    ] = 100,
) -> None:
    """Show service logs (stdout).

    Examples:

      devenv logs mlflow -f --since 10m

      devenv logs --tail 20
    """
    from devenv.stack import lifecycle

    show = views()
    stream = lifecycle.logs(
        engine(every_profile=True), service, follow=follow, since=since, tail=tail
    )
    for text in stream:
        show.raw(text)


def env(
    *,
    fmt: Annotated[
        EnvFormat,
        typer.Option("--format", metavar="FORMAT", help="dotenv, shell (export lines) or json."),
    ] = EnvFormat.dotenv,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Include keys, passwords and tokens.")
    ] = False,
) -> None:
    """Client settings for tools on the host: MLflow, S3, Postgres, Jupyter.

    Examples:

      eval "$(devenv env --format shell)"

      devenv env --format json --show-secrets
    """
    from devenv.stack import client_env
    from devenv.ui import console

    settings = client_env.client_settings(engine(), show_secrets=show_secrets)
    views().raw(client_env.as_text(settings, fmt.value) + "\n")
    if not show_secrets:
        console.info("secrets left out; add --show-secrets to include them")


def ps(*, json_output: JsonOption = False) -> None:
    """List the project's containers: state, health, exit code, ports.

    One-shot init containers included; no probes (devenv status runs those).

    Examples:

      devenv ps

      devenv ps --json
    """
    from devenv.stack import lifecycle

    views().ps(lifecycle.ps(engine(every_profile=True)), as_json=json_output)


def exec_(
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="A running service.")],
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="COMMAND", help="What to run (default: a shell).", show_default=False
        ),
    ] = None,
) -> None:
    """Run a command, or a shell, inside a running service.

    A terminal gets a TTY; in a pipe the output is printed when the command ends. Exits with
    the command's own exit code.

    Examples:

      devenv exec jupyter

      devenv exec postgres psql -U postgres

      devenv exec mlflow python -c "import mlflow; print(mlflow.__version__)"
    """
    from devenv.stack import lifecycle

    tty = sys.stdin.isatty() and sys.stdout.isatty()
    with interruptible("the command was stopped; the service keeps running"):
        out = lifecycle.exec_in(engine(every_profile=True), service, command or [], tty=tty)
    if out:
        views().raw(out if out.endswith("\n") else out + "\n")


def open_(
    service: Annotated[
        str, typer.Argument(metavar="SERVICE", help="jupyter, mlflow, serving or objectstore.")
    ],
    *,
    console_url: Annotated[
        bool, typer.Option("--console", help="The service's web console (object store).")
    ] = False,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the URL instead of opening a browser.")
    ] = False,
) -> None:
    """Open a service in your browser (JupyterLab with its token).

    MLflow, the serving API's docs, the object store or its console (--console).

    Examples:

      devenv open jupyter

      devenv open objectstore --console

      devenv open mlflow --print
    """
    from devenv.stack import lifecycle
    from devenv.ui import console

    url = lifecycle.service_url(engine(), service, console_url=console_url)
    if not print_only:
        import webbrowser

        if webbrowser.open(url):
            console.success(f"opened {service} in your browser")
            return
        console.info("no browser found here: open this URL yourself")
    console.out.print(url, soft_wrap=True, markup=False, highlight=False)
