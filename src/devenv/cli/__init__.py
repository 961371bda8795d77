"""The `devenv` command line. Thin: parse flags, call one function, print, map errors to exits.

This is the only module that exits; every expected failure is a DevenvError caught in `main`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

# Only what every run needs is imported here; each command imports its own modules, so that
# --help, --version and completion stay fast (python-on-whales, httpx, yaml, copier load late).
from devenv import __version__
from devenv.ui import console
from devenv.stack.client_env import EnvFormat
from devenv.core.errors import DevenvError, InterruptedByUserError, UsageError, exit_codes

if TYPE_CHECKING:
    from types import ModuleType

    from devenv.docker.engine import Engine

# Every command's help ends with the exit codes: scripts branch on them (docs/cli.md).
EXIT_CODES = "Exit codes: " + ", ".join(f"{code} {label}" for code, label in exit_codes()) + "."


def _plain_help(params: list[Any]) -> list[Any]:
    """Help without Python types: a flag takes no value and an argument names its own."""
    for param in params:
        if getattr(param, "is_flag", False) or param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))

    def get_short_help_str(self, limit: int = 45) -> str:
        """The whole first line in `devenv --help`, wrapped, never cut at 45 characters."""
        text = self.short_help or (self.help or "").strip().split("\n\n")[0]
        return " ".join(text.split())


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_help(super().get_params(ctx))


app = typer.Typer(
    name="devenv",
    help=(
        "A local ML platform in minutes: JupyterLab, MLflow, Postgres, S3 and model serving on "
        "Docker Compose.\n\nStart with: devenv new my-project, then devenv up. A teammate's "
        "clone: scripts/onboard.sh (or devenv onboard)."
    ),
    epilog=EXIT_CODES,
    cls=_Group,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,  # click's plain help: --help needs no rich (make bench-cli)
    pretty_exceptions_show_locals=False,  # .env holds secrets: never print locals
    context_settings={"help_option_names": ["-h", "--help"]},
)


@contextmanager
def _interruptible(hint: str) -> Iterator[None]:
    """Ctrl-C becomes one clear line and exit 130 (typer alone would exit silently)."""
    try:
        yield
    except KeyboardInterrupt:
        raise InterruptedByUserError("interrupted", hint=hint) from None


def _engine(*, every_profile: bool = False) -> Engine:
    """The command's one Engine, for the project around the current folder. `every_profile`:
    the optional services too (the canary's), for commands that act on whatever runs."""
    from devenv.docker.engine import Engine
    from devenv.core.project import find_project

    return Engine(find_project(), profiles=["*"] if every_profile else [])


def views() -> ModuleType:
    """What commands show (imported late: rich and the use cases load only when needed)."""
    from devenv.ui import views as shown

    return shown


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


@app.command(cls=_Command, epilog=EXIT_CODES)
def new(
    dest: Annotated[
        Path, typer.Argument(metavar="DEST", help="Folder to create the project in.")
    ] = Path("my-ml-project"),
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
    from devenv.scaffold import template as scaffold

    started = time.monotonic()
    with _interruptible("nothing was written"):
        result = scaffold.new_project(
            dest,
            scaffold.parse_data(data or []),
            defaults=defaults,
            template=template,
            vcs_ref=vcs_ref,
            git_init=git,
        )
    views().new(result, time.monotonic() - started, as_json=json_output)


@app.command(cls=_Command, epilog=EXIT_CODES)
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

      devenv update --template https://github.com/ml-devenv/ml-devenv.git --vcs-ref v0.2.0
    """
    from devenv.scaffold import template as scaffold
    from devenv.core.project import find_project

    result = scaffold.update_project(
        find_project(), scaffold.parse_data(data or []), template=template, vcs_ref=vcs_ref
    )
    views().update(result, as_json=json_output)


@app.command(cls=_Command, epilog=EXIT_CODES)
def urls(*, json_output: JsonOption = False) -> None:
    """Where each service of this project answers (read from compose.yaml's labels).

    Optional services (the canary gateway, the image registry) are listed with the profile
    that starts them.

    Examples:

      devenv urls

      devenv urls --json | jq -r '.[] | select(.name == "mlflow") | .url'
    """
    from devenv.core import services

    views().urls(services.load(_engine(every_profile=True)), as_json=json_output)


def _watch_status(engine: Engine, names: list[str]) -> None:
    from rich.live import Live

    from devenv.stack import start as stack

    try:
        with Live(console=console.out, auto_refresh=False) as live:
            while True:
                live.update(views().status_table(stack.status(engine, names)), refresh=True)
                engine.forget()  # .env may change between refreshes
                time.sleep(2)
    except KeyboardInterrupt:
        return


ServicesArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="SERVICE", help="Services to act on (default: all).", show_default=False
    ),
]


@app.command(cls=_Command, epilog=EXIT_CODES)
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
    from devenv.stack import start as stack

    engine = _engine(every_profile=True)
    if watch:
        _watch_status(engine, names or [])
        return
    results = stack.status(engine, names or [])
    views().status(results, as_json=json_output)
    if failure := stack.unhealthy(results):
        raise failure


@app.command(cls=_Command, epilog=EXIT_CODES)
def up(
    names: ServicesArgument = None,
    *,
    build: Annotated[
        bool | None,
        typer.Option(
            "--build/--no-build",
            help="Rebuild images first / never build (default: build only missing images).",
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
    json_output: JsonOption = False,
) -> None:
    """Build, start and health-check the stack, with live progress; safe to run again.

    Before anything starts it checks the engine, compose (v2.20+), unresolved update
    conflicts and that every host port is free. After start-up each service must pass a real
    probe (see devenv status). Also: devenv start.

    Examples:

      devenv up

      devenv up jupyter --build

      devenv up --gpu none --timeout 900
    """
    from devenv.stack import start as stack

    mode = stack.parse_gpu_mode(gpu)
    engine = _engine()
    renderer = console.LiveTable()
    with (
        _interruptible(
            "containers that had started keep running: devenv status shows them, devenv down "
            "stops them"
        ),
        renderer,
    ):
        result = stack.up(
            engine,
            names or [],
            build=build,
            timeout=timeout,
            gpu=mode,
            on_progress=lambda progress: renderer.update(progress.table(), progress.rows),
        )
    views().up(result, engine.env.get("JUPYTER_TOKEN"), as_json=json_output)
    if failure := stack.unhealthy(result.statuses, started=True):
        raise failure
    console.success(f"stack up and working in {result.seconds:.1f}s")


@app.command(name="gpu-check", cls=_Command, epilog=EXIT_CODES)
def gpu_check(
    *,
    service: Annotated[
        str, typer.Option(metavar="SERVICE", help="Service container to test in.")
    ] = "jupyter",
    require_gpu: Annotated[
        bool,
        typer.Option("--require-gpu", help="Exit non-zero when CUDA is not usable."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Does the GPU work, layer by layer: host driver -> engine -> container -> torch.

    The last layer runs a probe with the container's own torch: device, bf16/TF32 support, a
    large allocation, GEMM TFLOP/s (bf16 and fp32, 8192^3), device and host copy bandwidth,
    compared with measured figures for known cards (flagged below 70 %). On a CPU-only host it
    says why there is no GPU, measures the CPU path, and exits 0 unless --require-gpu.

    Examples:

      devenv gpu-check

      devenv gpu-check --service serving --require-gpu --json
    """
    from devenv.ml.gpu import check as checker

    with _interruptible("the probe was stopped; nothing changed"):
        report = checker.run(_engine(), service)
    views().gpu_check(report, as_json=json_output)
    if require_gpu:
        checker.require_cuda(report)


@app.command(cls=_Command, epilog=EXIT_CODES)
def doctor(
    *,
    json_output: JsonOption = False,
    report: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH", help="Also write a redacted diagnostic bundle (JSON) for a bug report."
        ),
    ] = None,
) -> None:
    """Check this machine (and the project you are in) before anything goes wrong.

    Docker engine and compose versions, the runtime, disk, memory, CPU architecture, host
    ports, the GPU layers, proxies and NO_PROXY, the CA bundle, git, and the project's files
    (.env complete against .env.example, no update conflicts). Each: ok, warn or fail, with a
    fix. Exit 0 unless something fails.

    Examples:

      devenv doctor

      devenv doctor --json --report doctor-report.json
    """
    from devenv.stack import doctor as doc
    from devenv.docker.engine import Engine
    from devenv.core.errors import ProjectNotFoundError
    from devenv.core.project import find_project

    try:
        project = find_project()
    except ProjectNotFoundError:
        project = None
    engine = Engine(project)
    checks = doc.run(project, engine=engine)
    views().checks(checks, as_json=json_output)
    if report is not None:
        written = doc.report(project, checks, report, engine=engine)
        console.info(f"diagnostic bundle (secrets redacted): {written}")
    doc.raise_on_failure(checks)


@app.command(cls=_Command, epilog=EXIT_CODES)
def onboard(
    dest: Annotated[
        Path | None,
        typer.Argument(
            metavar="DEST", help="Where to create the project when you are not inside one."
        ),
    ] = None,
    *,
    json_output: JsonOption = False,
) -> None:
    """New hire? From a laptop with Docker to a served model, timed phase by phase.

    doctor -> new (only without a project; an existing one is used with its .env) -> up ->
    status -> gpu-check -> smoke, then a summary: URLs, where the credentials are, next steps,
    and the time of each phase. Running it again skips what is already done. A fresh clone
    gets its own .env from .env.example, with fresh secrets.

    Examples:

      devenv onboard

      devenv onboard my-project --json
    """
    from devenv.stack import onboard as flow

    show, renderer = views(), console.LiveTable()
    with _interruptible("re-run devenv onboard: it picks up where it stopped"), renderer:
        result = flow.run(
            dest,
            on_phase=show.phase,
            on_progress=lambda progress: renderer.update(progress.table(), progress.rows),
        )
    show.onboard(result, as_json=json_output)


@app.command(cls=_Command, epilog=EXIT_CODES)
def smoke(*, json_output: JsonOption = False) -> None:
    """Prove the ML loop on the live stack: train -> track -> store -> register -> serve.

    Trains the example model inside JupyterLab, then checks each step with its own probe: the
    run in MLflow, the model's files in the S3 bucket, the registered version and its alias,
    serving reloading it, /predict agreeing with the model's own prediction, and a bad payload
    refused with a 4xx. Exits non-zero naming the failing step.

    Examples:

      devenv smoke

      devenv smoke --json
    """
    from devenv.ml import smoke as smoke_test

    engine = _engine()
    started = time.monotonic()
    with _interruptible("the smoke test was stopped; the stack is as it was"):
        engine.require()
        steps = smoke_test.run(engine)
    views().checks(steps, as_json=json_output, seconds=time.monotonic() - started)
    smoke_test.raise_on_failure(steps)
    console.success(f"golden path proven in {time.monotonic() - started:.1f}s")


@app.command(cls=_Command, epilog=EXIT_CODES)
def restart(names: ServicesArgument = None) -> None:
    """Restart services (all by default); their data is kept.

    Examples:

      devenv restart

      devenv restart serving mlflow
    """
    from devenv.core import services

    engine = _engine(every_profile=True)
    services.check_names(services.load(engine), names or [])
    engine.require()
    engine.restart(names or [])
    console.success(
        f"restarted {', '.join(names) if names else 'all services'}; check with: devenv status"
    )


@app.command(cls=_Command, epilog=EXIT_CODES)
def reset(
    names: ServicesArgument = None,
    *,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")] = False,
) -> None:
    """DELETE data: stop services and remove their volumes (all by default). Asks first.

    Examples:

      devenv reset objectstore

      devenv reset --yes
    """
    from devenv.stack import start as stack

    engine = _engine(every_profile=True)
    plans = stack.reset_plan(engine, names or [])
    if not views().confirm_deletion(plans, yes=yes):
        raise typer.Exit(0 if not plans else 1)
    deleted = stack.reset(engine, plans, names or [])
    console.success(f"deleted {len(deleted)} volume(s); devenv up starts afresh")


@app.command(cls=_Command, epilog=EXIT_CODES)
def down() -> None:
    """Stop and remove the containers. Volumes, and so all your data, are kept.

    Also: devenv stop.

    Examples:

      devenv down
    """
    engine = _engine(every_profile=True)
    engine.require()
    engine.down()
    console.success("stopped; volumes kept (your data is safe)")


@app.command(cls=_Command, epilog=EXIT_CODES)
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
    from devenv.core import services

    engine = _engine(every_profile=True)
    services.check_names(services.load(engine), [service] if service else [])
    engine.require()
    show = views()
    for text in engine.logs([service] if service else [], follow=follow, since=since, tail=tail):
        show.raw(text)


@app.command(name="env", cls=_Command, epilog=EXIT_CODES)
def env_(
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

    settings = client_env.client_settings(_engine(), show_secrets=show_secrets)
    views().raw(client_env.render(settings, fmt.value) + "\n")
    if not show_secrets:
        console.info("secrets left out; add --show-secrets to include them")


def _sub_app(name: str, help_text: str) -> typer.Typer:
    """A command group (`devenv canary …`): plain help with examples, exit codes below."""
    group = typer.Typer(
        name=name,
        cls=_Group,
        no_args_is_help=True,
        rich_markup_mode=None,
        help=help_text,
        epilog=EXIT_CODES,
    )
    app.add_typer(group)
    return group


canary_app = _sub_app(
    "canary",
    "Champion/challenger canary through an Envoy gateway: split traffic, shift it live, "
    "promote or roll back (docs/canary.md).\n\nExamples:\n\n  devenv canary start\n\n"
    "  devenv canary set 10\n\n  devenv canary status --json",
)


def _canary_engine() -> Engine:
    from devenv.release.canary.flow import engine_for
    from devenv.core.project import find_project

    return engine_for(find_project())


@canary_app.command("start", cls=_Command, epilog=EXIT_CODES)
def canary_start(*, json_output: JsonOption = False) -> None:
    """Start the gateway and the challenger; traffic splits as CANARY_PERCENT in .env says.

    Needs a model version with the champion alias and one with the challenger alias
    (CANARY_ALIAS, default challenger). Requests to the gateway's URL go to either; a header
    pins a track (x-model-track: challenger) and a user id keeps one user on one track.

    Examples:

      devenv canary start

      devenv canary start --json
    """
    from devenv.release.canary import flow as canary_flow

    renderer = console.LiveTable()
    with _interruptible("the gateway may be starting: devenv canary status shows it"), renderer:
        found = canary_flow.start(
            _canary_engine(),
            on_progress=lambda progress: renderer.update(progress.table(), progress.rows),
        )
    views().canary(found, as_json=json_output)
    console.success(f"canary gateway up at {found.url}")


@canary_app.command("set", cls=_Command, epilog=EXIT_CODES)
def canary_set(
    percent: Annotated[
        str, typer.Argument(metavar="PERCENT", help="The challenger's share, 0-100.")
    ],
    *,
    json_output: JsonOption = False,
) -> None:
    """Shift traffic live (no reload, no dropped request) and keep the share in .env.

    Examples:

      devenv canary set 10

      devenv canary set 100 --json
    """
    from devenv.release.canary import flow as canary_flow

    found = canary_flow.set_percent(_canary_engine(), percent)
    views().canary(found, as_json=json_output)
    console.success(f"challenger now gets {found.live_percent} % of traffic")


@canary_app.command("status", cls=_Command, epilog=EXIT_CODES)
def canary_status(*, json_output: JsonOption = False) -> None:
    """Weights, versions, and requests and error rates per track (Envoy's own stats).

    Examples:

      devenv canary status

      devenv canary status --json | jq '.results[] | {name, data}'
    """
    from devenv.release.canary import flow as canary_flow

    found = canary_flow.status(_canary_engine())
    views().canary(found, as_json=json_output)


@canary_app.command("promote", cls=_Command, epilog=EXIT_CODES)
def canary_promote(*, json_output: JsonOption = False) -> None:
    """The challenger's version becomes the champion (MLflow alias); the challenger gets 0 %.

    Examples:

      devenv canary promote
    """
    from devenv.release.canary import flow as canary_flow

    version, found = canary_flow.promote(_canary_engine())
    views().canary(found, as_json=json_output)
    console.success(f"version {version} is the champion now; the challenger gets no traffic")


@canary_app.command("rollback", cls=_Command, epilog=EXIT_CODES)
def canary_rollback(*, json_output: JsonOption = False) -> None:
    """Send all traffic back to the champion (the challenger keeps running, at 0 %).

    Examples:

      devenv canary rollback
    """
    from devenv.release.canary import flow as canary_flow

    found = canary_flow.rollback(_canary_engine())
    views().canary(found, as_json=json_output)
    console.success("all traffic on the champion")


k8s_app = _sub_app(
    "k8s",
    "Kubernetes manifests for this project (k8s/: a Kustomize base and overlays): render "
    "them, validate them offline, apply them to a local cluster (docs/kubernetes.md)."
    "\n\nExamples:\n\n  devenv k8s validate\n\n  devenv k8s render local > local.yaml"
    "\n\n  devenv k8s apply local",
)
OverlayArgument = Annotated[
    str, typer.Argument(metavar="OVERLAY", help="A folder of k8s/overlays: local, prod, gpu.")
]


@k8s_app.command("render", cls=_Command, epilog=EXIT_CODES)
def k8s_render(
    overlay: OverlayArgument = "local",
    *,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Build an overlay into plain objects (secrets and settings from .env, never committed).

    Examples:

      devenv k8s render local | kubectl apply -f -

      devenv k8s render prod -o prod.yaml
    """
    from devenv.release.k8s import render as k8s
    from devenv.core.project import find_project

    rendered = k8s.render(find_project(), overlay)
    if output is None:
        views().raw(rendered.text)
        return
    try:
        output.write_text(rendered.text, encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"cannot write {output}: {error.strerror}",
            hint="pick a file in an existing, writable folder, or leave out -o for stdout",
        ) from None
    console.success(f"{len(rendered.docs)} objects written to {output}")


@k8s_app.command("validate", cls=_Command, epilog=EXIT_CODES)
def k8s_validate(
    overlays: Annotated[
        list[str] | None,
        typer.Argument(metavar="OVERLAY", help="Overlays to check (default: all)."),
    ] = None,
    *,
    json_output: JsonOption = False,
) -> None:
    """Check overlays offline: Kubernetes schemas (strict), the mesh CRDs, trivy config, and
    whether selectors, ports, probes, images, Jobs and canary weights agree.

    Examples:

      devenv k8s validate

      devenv k8s validate prod --json | jq '.results[] | select(.status != "ok")'
    """
    from devenv.release.k8s import render as k8s
    from devenv.core.project import find_project
    from devenv.core.result import first_failure

    console.info("rendering and checking the overlays (the first run installs the CRD validators)")
    results = k8s.validate_overlays(find_project(), overlays or [])
    views().checks(results, as_json=json_output)
    if failed := first_failure(results):
        failed.raise_if_failed()
    console.success(f"{len({r.name.split('/')[0] for r in results})} overlay(s) valid")


@k8s_app.command("apply", cls=_Command, epilog=EXIT_CODES)
def k8s_apply(overlay: OverlayArgument = "local", *, json_output: JsonOption = False) -> None:
    """Validate, load the stack's images into a local cluster (kind, k3d, k3s, minikube),
    apply, and wait for the training Job and the champion to be ready.

    Examples:

      kind create cluster && devenv k8s apply local
    """
    from devenv.release.k8s import cluster as k8s_cluster
    from devenv.docker.engine import Engine
    from devenv.core.project import find_project

    project = find_project()
    with _interruptible("objects may be half applied: devenv k8s status shows them"):
        steps = k8s_cluster.apply(project, overlay, Engine(project), on_step=views().phase)
    views().checks(steps, as_json=json_output)
    console.success(f"overlay {overlay} applied and ready")


@k8s_app.command("status", cls=_Command, epilog=EXIT_CODES)
def k8s_status(overlay: OverlayArgument = "local", *, json_output: JsonOption = False) -> None:
    """Each Job, Deployment and StatefulSet of an overlay as the cluster reports it.

    Examples:

      devenv k8s status --json
    """
    from devenv.release.k8s import cluster as k8s_cluster
    from devenv.core.project import find_project

    results = k8s_cluster.status(find_project(), overlay)
    views().checks(results, as_json=json_output)


images_app = _sub_app(
    "images",
    "The project's images in a registry: push them by git SHA, promote a stage to the "
    "next by digest, never rebuilding (docs/registry.md).\n\nExamples:\n\n"
    "  devenv images push\n\n  devenv images promote dev staging",
)
RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        metavar="HOST:PORT",
        help="Another registry (default: the project's own, profile registry, REGISTRY_PORT).",
    ),
]


@images_app.command("push", cls=_Command, epilog=EXIT_CODES)
def images_push(
    services: Annotated[
        list[str] | None,
        typer.Argument(metavar="SERVICE", help="Images to push (default: every built one)."),
    ] = None,
    *,
    registry: RegistryOption = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Tag instead of the git SHA.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Push the images compose builds as <registry>/<project>/<service>:<git sha> and :dev,
    record their digests and an SBOM each in .devenv/ (the project's registry starts if needed).

    Examples:

      devenv images push

      devenv images push serving --json
    """
    from devenv.release import images

    engine = _engine(every_profile=True)
    renderer = console.LiveTable()
    with _interruptible("some images may be pushed: push again, it is idempotent"), renderer:
        results = images.push(
            engine,
            services or [],
            address=registry,
            tag=tag,
            on_step=views().phase,
            on_progress=lambda progress: renderer.update(progress.table(), progress.rows),
        )
    views().checks(results, as_json=json_output)
    console.success(f"{len(results)} image(s) pushed and tagged {images.FIRST_STAGE}")


@images_app.command("promote", cls=_Command, epilog=EXIT_CODES)
def images_promote(
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
    from devenv.core.result import first_failure

    results = images.promote(_engine(every_profile=True), source, target, address=registry)
    views().checks(results, as_json=json_output)
    if failed := first_failure(results):
        failed.raise_if_failed()
    console.success(f"{len(results)} image(s) promoted {source} -> {target}")


# Aliases users know from Supabase, Astro and compose itself.
for alias, target, summary in (
    ("start", up, "build, start and health-check the stack (devenv start jupyter)."),
    ("stop", down, "stop and remove the containers; volumes and data are kept."),
):
    app.command(
        name=alias,
        cls=_Command,
        epilog=EXIT_CODES,
        help=f"Same as devenv {target.__name__}: {summary}",
    )(target)


@app.command(cls=_Command, epilog=EXIT_CODES)
def ps(*, json_output: JsonOption = False) -> None:
    """List the project's containers: state, health, exit code, ports.

    One-shot init containers included; no probes (devenv status runs those).

    Examples:

      devenv ps

      devenv ps --json
    """
    from devenv.stack import start as stack

    views().ps(stack.ps(_engine(every_profile=True)), as_json=json_output)


@app.command(
    name="exec",
    cls=_Command,
    epilog=EXIT_CODES,
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
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
    from devenv.stack import start as stack

    tty = sys.stdin.isatty() and sys.stdout.isatty()
    with _interruptible("the command was stopped; the service keeps running"):
        out = stack.exec_in(_engine(every_profile=True), service, command or [], tty=tty)
    if out:
        views().raw(out if out.endswith("\n") else out + "\n")


@app.command(name="open", cls=_Command, epilog=EXIT_CODES)
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
    from devenv.stack import start as stack

    url = stack.service_url(_engine(), service, console_url=console_url)
    if not print_only:
        import webbrowser

        if webbrowser.open(url):
            console.success(f"opened {service} in your browser")
            return
        console.info("no browser found here: open this URL yourself")
    console.out.print(url, soft_wrap=True, markup=False, highlight=False)


def main() -> None:
    """Console-script entry point: the one place errors become exit codes."""
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
