"""A project's running stack: state, health and app-level probes, and the lifecycle verbs.

Every Docker call goes through the command's one `Engine` (devenv.engine), which also turns
engine failures into our errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any

from devenv.core import envfile

from devenv.stack import health

from devenv.stack import preflight

from devenv.core import services
from devenv.docker.engine import Container, Engine
from devenv.core.envfile import read_env
from devenv.core.errors import (
    BuildFailedError,
    DockerCommandError,
    ExecFailedError,
    GpuUnavailableError,
    StackUnhealthyError,
    UsageError,
)
from devenv.docker.gpu import Layer
from devenv.docker.gpu import layers as gpu_layers
from devenv.docker.gpu import problems as gpu_problems
from devenv.stack.health import ProbeResult
from devenv.docker.progress import Progress
from devenv.core.project import GPU_OVERLAY, Project
from devenv.core.result import Result
from devenv.core.services import Service, check_names

MISSING = Container("", "", "missing", None, None)
# The command that starts each compose profile's services.
STARTED_BY = {"canary": "devenv canary start", "registry": "devenv images push"}


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    state: str
    health: str | None
    probe: ProbeResult | None

    @property
    def ok(self) -> bool:
        healthy = self.health in (None, "healthy")
        return self.state == "running" and healthy and (self.probe is None or self.probe.ok)

    def to_result(self) -> Result:
        """As the one result type: the probe's word when it ran, else the container's state."""
        if self.probe is not None:
            detail = self.probe.detail
        else:
            detail = self.state + (f", {self.health}" if self.health else "")
        return Result(
            self.service.name,
            "ok" if self.ok else "fail",
            detail,
            None if self.ok else f"see why: devenv logs {self.service.name}",
            data={
                "title": self.service.title,
                "url": self.service.url,
                "state": self.state,
                "health": self.health,
                "probe": self.probe.as_dict() if self.probe else None,
                "ms": round(self.probe.latency_ms) if self.probe else None,
            },
        )


def _exec_probe(engine: Engine, service: str, command: list[str]) -> ProbeResult:
    """A probe that runs inside a container (no database or S3 client needed on the host)."""
    started = time.perf_counter()
    result = engine.exec(service, command)
    elapsed = (time.perf_counter() - started) * 1000
    if not result.ok:
        return ProbeResult(False, result.last_line(), elapsed)
    return ProbeResult(True, result.stdout.strip()[:80] or "ok", elapsed)


def probe(engine: Engine, service: Service) -> ProbeResult | None:
    """The app-level check named by the service's `devenv.probe` label."""
    kind, url = service.probe, service.url or ""
    if kind == "mlflow":
        return health.mlflow_api(services.base(url))
    if kind == "jupyter":
        return health.jupyter_api(services.base(url), engine.env.get("JUPYTER_TOKEN", ""))
    if kind == "serving":
        return health.http_ok(services.base(url) + "/health") if url else None
    if kind == "gateway" and service.admin:
        return health.http_ok(services.base(service.admin) + "/ready")
    if kind == "registry":  # the Distribution API's version check
        return health.http_ok(services.base(url) + "/v2/") if url else None
    if kind == "postgres":
        sql = 'psql -U "$POSTGRES_USER" -d "$MLFLOW_DB_NAME" -tAc "select 1"'
        return _exec_probe(engine, service.probe_in or service.name, ["sh", "-c", sql])
    if kind == "s3":
        # Where the S3 client and credentials live (the MLflow container): list the bucket.
        script = (
            "import os, boto3; s3 = boto3.client('s3', endpoint_url="
            "os.environ['MLFLOW_S3_ENDPOINT_URL'], region_name='us-east-1'); "
            "print(s3.list_objects_v2(Bucket=os.environ['MLFLOW_ARTIFACTS_DESTINATION']"
            ".split('/')[2], MaxKeys=1)['KeyCount'], 'objects listed')"
        )
        return _exec_probe(engine, service.probe_in or service.name, ["python", "-c", script])
    return None


def status(engine: Engine, names: list[str] | None = None) -> list[ServiceStatus]:
    """State, health and a probe for each long-running service (probes only when running).

    A service of a compose profile (the canary's, the registry) counts only while it has a
    container, or when named: a stack without the canary is not failing for lack of it."""
    engine.prefetch("config", "states")
    known = services.load(engine)
    check_names(known, names or [])
    states = engine.states()
    if names:
        chosen = [s for s in known if s.name in names]
    else:
        chosen = [s for s in known if s.profile is None or s.name in states]
    current = {s.name: states.get(s.name, MISSING) for s in chosen}
    # Probes are independent network or exec calls: run them side by side.
    with ThreadPoolExecutor(max_workers=max(1, len(chosen))) as pool:
        futures = {s.name: pool.submit(probe, engine, s) for s in chosen if current[s.name].running}
        return [
            ServiceStatus(
                s,
                current[s.name].state,
                current[s.name].health,
                futures[s.name].result() if s.name in futures else None,
            )
            for s in chosen
        ]


def unhealthy(
    statuses: list[ServiceStatus], *, started: bool = False
) -> StackUnhealthyError | None:
    """The one rule for "the stack is not working", and its one error (exit 13), for status,
    up, onboard and the rest."""
    failing = [st.service for st in statuses if not st.ok]
    if not failing:
        return None
    said = "started, but not working" if started else "not working"
    # `devenv up` starts no profile's services: name the command that does.
    start = STARTED_BY.get(failing[0].profile or "", "devenv up")
    return StackUnhealthyError(
        f"{said}: {', '.join(s.name for s in failing)}",
        hint=f"see why: devenv logs {failing[0].name}; start or heal: {start}",
    )


def url_rows(statuses: list[ServiceStatus], token: str | None) -> list[tuple[str, str]]:
    """(title, URL) per service for summaries: Jupyter with its token link, consoles too."""
    rows = []
    for st in statuses:
        url = st.service.url or ""
        if st.service.probe == "jupyter" and token:
            url = f"{url}?token={token}"
        rows.append((st.service.title, url))
        if st.service.console:
            rows.append((f"{st.service.title} console", st.service.console))
    return rows


# ---------------------------------------------------------------- .env


def project_volumes(engine: Engine) -> list[str]:
    """Volumes compose made for this project, by the name .env.example gives it (what the
    lost .env would have said); the folder's name is compose's fallback."""
    assert engine.project is not None
    root = engine.project.root
    name = read_env(root / ".env.example").get("COMPOSE_PROJECT_NAME") or root.name
    return engine.volumes(name)


def prepare_env(engine: Engine) -> envfile.EnvSync:
    """A teammate's fresh clone has no .env: create it (fresh secrets), or add the keys a
    template update brought. Refuses when the project's volumes exist without their .env."""
    assert engine.project is not None
    root = engine.project.root
    missing = not (root / ".env").is_file()
    synced = envfile.ensure(root, volumes=project_volumes(engine) if missing else ())
    if synced.created or synced.added:
        engine.forget()
    return synced


# ---------------------------------------------------------------- up


class GpuMode(str, Enum):
    """One vocabulary with the template's `gpu` answer."""

    auto = "auto"
    nvidia = "nvidia"
    none = "none"


# The words of earlier releases still work, with a note.
OLD_GPU_WORDS = {"on": GpuMode.nvidia, "off": GpuMode.none}


def parse_gpu_mode(value: str) -> GpuMode:
    if value in OLD_GPU_WORDS:
        from devenv.ui import console

        console.info(f"note: --gpu {value} is now --gpu {OLD_GPU_WORDS[value].value}")
        return OLD_GPU_WORDS[value]
    try:
        return GpuMode(value)
    except ValueError:
        raise UsageError(
            f"--gpu must be auto, nvidia or none, got {value!r}",
            hint="the same words as the template's gpu answer",
        ) from None


def gpu_plan(
    project: Project, mode: str, check_layers: Callable[[], list[Layer]]
) -> tuple[bool, str]:
    """Whether to add the GPU overlay, and why. `--gpu nvidia` fails here, before any change.

    The words are the template's own (`gpu: auto|nvidia|none`)."""
    if mode == "none":
        return False, "GPU off (--gpu none)"
    if not (project.root / GPU_OVERLAY).is_file():
        if mode == "nvidia":
            raise GpuUnavailableError(
                f"this project has no {GPU_OVERLAY} (it was made with gpu=none)",
                hint="add it with: devenv update -d gpu=auto",
            )
        return False, "CPU project (gpu=none)"
    failing = gpu_problems(check_layers())
    if not failing:
        return True, "GPU ready: driver, engine and CUDA versions check out"
    why = "; ".join(layer.detail for layer in failing)
    if mode == "nvidia":
        raise GpuUnavailableError(f"GPU not usable: {why}", hint=failing[0].fix)
    return False, f"starting on CPU: {why} (fix: {failing[0].fix})"


def _with_dependencies(config: dict[str, Any], names: list[str]) -> set[str]:
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend((config["services"].get(name, {}).get("depends_on") or {}).keys())
    return seen


@dataclass
class UpResult:
    statuses: list[ServiceStatus]
    seconds: float
    gpu: bool
    gpu_reason: str
    env: envfile.EnvSync
    converged: bool = False  # already as asked: compose up was not needed
    gpu_note: bool = False  # worth saying why the GPU is not used (auto, on a GPU project)


def converged(engine: Engine, targets: set[str], *, gpu: bool) -> bool:
    """Whether `compose up` would change nothing: every service running and healthy (one-shots
    exited 0), made from today's configuration (compose's own config hash) and image. A
    healthy stack then skips compose's convergence pass, the slowest part of a warm `up`."""
    current = engine.states()
    long_running = {s.name for s in services.from_config(engine.config)}
    mine = [current.get(name) for name in sorted(targets)]
    if any(c is None or _failed(c.service, c, long_running) for c in mine):
        return False
    if any(c.service not in long_running and c.state != "exited" for c in mine if c):
        return False
    hashes = engine.config_hashes(sorted(targets), gpu=gpu)
    if any(c is None or not c.config_hash or hashes.get(c.service) != c.config_hash for c in mine):
        return False
    ids = engine.image_ids(sorted({c.image for c in mine if c and c.image}))
    return all(c is not None and ids.get(c.image) == c.image_id for c in mine)


def _failed(name: str, state: Container | None, long_running: set[str]) -> bool:
    if state is None:
        return name in long_running
    if name in long_running:
        return state.state != "running" or state.health not in (None, "healthy")
    return state.state == "exited" and state.exit_code not in (None, 0)


def diagnose(engine: Engine, targets: set[str]) -> StackUnhealthyError | None:
    """The root-cause service (failed, with no failed dependency), its state and last logs."""
    config = engine.config
    states = engine.states()
    long_running = {s.name for s in services.from_config(config)}
    failed = [
        n for n in config["services"] if n in targets and _failed(n, states.get(n), long_running)
    ]
    roots = [
        n for n in failed if not set(config["services"][n].get("depends_on") or {}) & set(failed)
    ]
    if not failed:
        return None
    name = (roots or failed)[0]
    state = states.get(name, MISSING)
    try:
        logs = engine.logs_text([name], tail=30).rstrip() or "(no output)"
    except Exception as error:  # diagnostics must never hide the failure itself
        logs = f"(logs unavailable: {error})"
    code = f", exit code {state.exit_code}" if state.state == "exited" else ""
    return StackUnhealthyError(
        f"{name} did not become healthy (state: {state.state}{code}, "
        f"health: {state.health or 'n/a'})",
        hint=f"fix what its log shows, then run devenv up again (full log: devenv logs {name})",
        details=f"--- last 30 log lines of {name} ---\n{logs}",
    )


def _failure(
    engine: Engine, targets: set[str], progress: Progress, error: DockerCommandError
) -> Exception:
    """The most useful error for a failed `compose up`: a service, a build, or compose itself."""
    failure = diagnose(engine, targets)
    compose_said = [
        line
        for line in error.stderr.splitlines()
        if line.strip() and not line.lstrip().startswith("{")
    ][-3:]
    if failure is not None:
        failure.details = "\n".join([*progress.raw, *compose_said, failure.details or ""])
        return failure
    build_errors = [e for e in progress.errors if "solve" in e or "build" in e.lower()]
    if build_errors:
        message = build_errors[-1].splitlines()[-1]
        return BuildFailedError(
            f"building the images failed: {message[-300:]}",
            hint="check the *_IMAGE and PIP_INDEX_URL values in .env and registry access "
            "(behind a TLS proxy: EXTRA_CA_CERTS; see docs/corporate-networks.md)",
            details="\n".join(progress.raw) or None,
        )
    said = (progress.errors or compose_said or [error.message])[-1]
    return StackUnhealthyError(
        f"docker compose up failed: {said}",
        hint="devenv status shows what runs; devenv logs shows why",
        details="\n".join(progress.raw) or None,
    )


def preflight_results(engine: Engine) -> list[Result]:
    """What `up` checks before it changes anything, in order; `up` stops on the first failure
    (doctor shows the same checks, all of them)."""
    assert engine.project is not None
    return [
        preflight.check_compose_version(engine.compose_version),
        preflight.check_conflicts(engine.project),
    ]


def up(
    engine: Engine,
    names: list[str],
    *,
    build: bool | None,
    timeout: int,
    gpu: str,
    on_progress: Callable[[Progress], None],
) -> UpResult:
    """Preflight, then build and start with live progress, then prove every service works."""
    started = time.monotonic()
    project = engine.project
    assert project is not None
    # The reads below are independent: made side by side, then used (and raised) in order.
    env_there = (project.root / ".env").is_file()
    engine.prefetch("info", "compose_version", *(("config", "states") if env_there else ()))
    info = engine.info  # the engine answers (or one clear error), before anything else
    for result in preflight_results(engine):
        result.raise_if_failed()
    env_sync = prepare_env(engine)
    config = engine.config
    check_names(services.from_config(config), names)
    torch_index = engine.env.get("TORCH_INDEX_URL")
    use_gpu, gpu_reason = gpu_plan(project, gpu, lambda: gpu_layers(info.facts, torch_index))
    gpu_note = gpu == "auto" and not use_gpu and (project.root / GPU_OVERLAY).is_file()

    def done(*, unchanged: bool) -> UpResult:
        statuses = status(engine, names)
        return UpResult(
            statuses, time.monotonic() - started, use_gpu, gpu_reason, env_sync, unchanged, gpu_note
        )

    targets = _with_dependencies(config, names) if names else set(config["services"])
    if build is not True and converged(engine, targets, gpu=use_gpu):
        return done(unchanged=True)
    preflight.check_published_ports(engine, targets).raise_if_failed()

    progress = Progress(
        str(config.get("name", "")), [n for n in config["services"] if n in targets]
    )
    on_progress(progress)

    def feed(line: str) -> None:
        if progress.feed(line):
            on_progress(progress)

    try:
        engine.up(names, gpu=use_gpu, build=build, timeout=timeout, on_line=feed)
    except DockerCommandError as error:
        raise _failure(engine, targets, progress, error) from None
    return done(unchanged=False)


# ---------------------------------------------------------------- reset


@dataclass(frozen=True)
class VolumePlan:
    volume: str  # the engine's name, e.g. myproj_postgres-data
    services: tuple[str, ...]


def reset_plan(engine: Engine, names: list[str]) -> list[VolumePlan]:
    """The named volumes that `reset` would delete, with the services that use them."""
    config = engine.config
    check_names(services.from_config(config), names)
    users: dict[str, list[str]] = {}
    for service, spec in config["services"].items():
        for mount in spec.get("volumes") or []:
            if mount.get("type") == "volume" and mount.get("source"):
                users.setdefault(mount["source"], []).append(service)
    plans = []
    for key, spec in (config.get("volumes") or {}).items():
        used_by = tuple(sorted(users.get(key, [])))
        if names and not set(used_by) & set(names):
            continue
        plans.append(VolumePlan(str((spec or {}).get("name") or key), used_by))
    return plans


def reset(engine: Engine, plans: list[VolumePlan], names: list[str]) -> list[str]:
    """Stop the services using the volumes, then delete the volumes. Returns what was deleted."""
    engine.require()
    if not names:
        engine.down(volumes=True)
    else:
        engine.remove(sorted({s for plan in plans for s in plan.services}), volumes=True)
        engine.remove_volumes([p.volume for p in plans])
    return [p.volume for p in plans]


# ---------------------------------------------------------------- ps, exec, open


def ps(engine: Engine) -> list[Container]:
    """Every container of the project, one-shot init containers included, by service."""
    return sorted(engine.containers(), key=lambda c: c.service)


# A login shell where the image has one: bash when installed, else sh.
DEFAULT_SHELL = ["sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash || exec sh"]


def exec_in(engine: Engine, service: str, command: list[str], *, tty: bool) -> str | None:
    """Run a command in a running service: on a terminal with a TTY (output live), else with
    output captured and returned. A non-zero exit becomes an error carrying its code."""
    check_names(services.load(engine), [service])
    if not engine.states().get(service, MISSING).running:
        raise StackUnhealthyError(
            f"{service} is not running", hint=f"start it with: devenv up {service}"
        )
    result = engine.exec(service, command or DEFAULT_SHELL, tty=tty)
    if not result.ok:
        failed = ExecFailedError(
            f"`{' '.join(command) or 'shell'}` exited with {result.code} in {service}",
            hint=f"its output is above; devenv logs {service} shows the service's own log",
            details=(result.stderr or result.stdout).rstrip() or None,
        )
        failed.exit_code = result.code
        raise failed
    return None if tty else result.stdout


def service_url(engine: Engine, service: str, *, console_url: bool = False) -> str:
    """The URL to open for a service: JupyterLab with its token, a console when asked."""
    known = services.load(engine)
    check_names(known, [service])
    found = next(s for s in known if s.name == service)
    url = found.console if console_url else found.url
    if not url:
        what = "web console" if console_url else "web page"
        with_one = [s.name for s in known if (s.console if console_url else s.url)]
        raise UsageError(
            f"{service} has no {what}", hint="services with one: " + ", ".join(with_one)
        )
    if found.probe == "jupyter" and not console_url:
        token = engine.env.get("JUPYTER_TOKEN")
        url = f"{url}?token={token}" if token else url
    return url
