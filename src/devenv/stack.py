"""A project's running stack: state, health and app-level probes, and the lifecycle verbs.

Every Docker call goes through `Project.docker()` (python-on-whales); engine failures become
one EngineUnavailableError with a hint, never a traceback.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from devenv import envfile, health, preflight, services
from devenv.envfile import read_env
from devenv.errors import (
    BuildFailedError,
    EngineUnavailableError,
    ExecFailedError,
    GpuUnavailableError,
    StackUnhealthyError,
    ToolMissingError,
    UnknownServiceError,
    UsageError,
)
from devenv.gpu import Layer, engine_facts
from devenv.gpu import layers as gpu_layers
from devenv.gpu import problems as gpu_problems
from devenv.health import ProbeResult
from devenv.progress import Progress
from devenv.project import GPU_OVERLAY, Project
from devenv.services import Service

T = TypeVar("T")


ENGINE_DOWN = (
    "cannot connect to the docker daemon",
    "is the docker daemon running",
    "error during connect",
)


def _engine_down(text: str) -> bool:
    return any(marker in text.lower() for marker in ENGINE_DOWN)


def _engine_answers() -> bool:
    from python_on_whales import DockerClient
    from python_on_whales.exceptions import DockerException

    try:
        DockerClient().system.info()
    except DockerException as error:
        if bad_host := services.bad_docker_host(error):
            raise bad_host from None
        return not _engine_down(f"{error.stderr or ''} {error}")
    except FileNotFoundError:
        raise ToolMissingError(
            "the docker CLI is not installed", hint="install Docker Engine or Docker Desktop"
        ) from None
    return True


def engine_unavailable() -> EngineUnavailableError:
    return EngineUnavailableError(
        "the Docker engine is not answering",
        hint="start Docker (Docker Desktop, or: sudo systemctl start docker); "
        "check DOCKER_HOST if you set it",
    )


def require_engine() -> None:
    if not _engine_answers():
        raise engine_unavailable()


@contextmanager
def engine_errors() -> Iterator[None]:
    """Turn python-on-whales' failures to reach the engine into one clear error."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except DockerException as error:
        if bad_host := services.bad_docker_host(error):
            raise bad_host from None
        # Some calls stream stderr to the terminal, so the text is not always in the error:
        # when it is not, ask the engine directly.
        if _engine_down(f"{error.stderr or ''}") or not _engine_answers():
            raise engine_unavailable() from None
        raise


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service.name,
            "title": self.service.title,
            "url": self.service.url,
            "state": self.state,
            "health": self.health,
            "probe": self.probe.as_dict() if self.probe else None,
            "ok": self.ok,
        }


def _exec_probe(project: Project, service: str, command: list[str]) -> ProbeResult:
    """A probe that runs inside a container (no database or S3 client needed on the host)."""
    from python_on_whales.exceptions import DockerException

    started = time.perf_counter()
    try:
        out = project.docker().compose.execute(service, command, tty=False)
    except DockerException as error:
        detail = (error.stderr or str(error)).strip().splitlines()
        return ProbeResult(
            False, detail[-1] if detail else "failed", (time.perf_counter() - started) * 1000
        )
    return ProbeResult(
        True, str(out or "").strip()[:80] or "ok", (time.perf_counter() - started) * 1000
    )


def probe(project: Project, service: Service, env: dict[str, str]) -> ProbeResult | None:
    """The app-level check named by the service's `devenv.probe` label."""
    kind, url = service.probe, service.url or ""
    if kind == "mlflow":
        return health.mlflow_api(services.base(url))
    if kind == "jupyter":
        return health.jupyter_api(services.base(url), env.get("JUPYTER_TOKEN", ""))
    if kind == "serving":
        return health.http_ok(services.base(url) + "/health")
    if kind == "postgres":
        sql = 'psql -U "$POSTGRES_USER" -d "$MLFLOW_DB_NAME" -tAc "select 1"'
        return _exec_probe(project, service.name, ["sh", "-c", sql])
    if kind == "s3":
        # The MLflow container holds the S3 client and credentials: list the artifact bucket.
        script = (
            "import os, boto3; s3 = boto3.client('s3', endpoint_url="
            "os.environ['MLFLOW_S3_ENDPOINT_URL'], region_name='us-east-1'); "
            "print(s3.list_objects_v2(Bucket=os.environ['MLFLOW_ARTIFACTS_DESTINATION']"
            ".split('/')[2], MaxKeys=1)['KeyCount'], 'objects listed')"
        )
        return _exec_probe(project, "mlflow", ["python", "-c", script])
    return None


@dataclass(frozen=True)
class ContainerState:
    state: str
    health: str | None
    exit_code: int | None


def containers(project: Project, docker: Any = None) -> dict[str, ContainerState]:
    """Service name -> its container's state, healthcheck status and exit code."""
    with engine_errors():
        found = (docker or project.docker()).compose.ps(all=True)
    states: dict[str, ContainerState] = {}
    for container in found:
        name = (container.config.labels or {}).get("com.docker.compose.service", container.name)
        health_status = container.state.health.status if container.state.health else None
        states[name] = ContainerState(
            str(container.state.status), health_status, container.state.exit_code
        )
    return states


def check_names(known: list[Service], names: list[str]) -> None:
    valid = {s.name for s in known}
    for name in names:
        if name not in valid:
            raise UnknownServiceError(
                f"unknown service {name!r}", hint="services: " + ", ".join(sorted(valid))
            )


def status(project: Project, names: list[str] | None = None) -> list[ServiceStatus]:
    """State, health and a probe for each long-running service (probes only when running)."""
    known = services.load(project)
    check_names(known, names or [])
    states = containers(project)
    env = read_env(project.root / ".env")
    chosen = [s for s in known if not names or s.name in names]
    current = {s.name: states.get(s.name, ContainerState("missing", None, None)) for s in chosen}
    # Probes are independent network or exec calls: run them side by side.
    with ThreadPoolExecutor(max_workers=max(1, len(chosen))) as pool:
        futures = {
            s.name: pool.submit(probe, project, s, env)
            for s in chosen
            if current[s.name].state == "running"
        }
        return [
            ServiceStatus(
                s,
                current[s.name].state,
                current[s.name].health,
                futures[s.name].result() if s.name in futures else None,
            )
            for s in chosen
        ]


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


def with_engine(call: Callable[[], T]) -> T:
    """Check the engine first (so compose never prints its own connection error), then call."""
    require_engine()
    with engine_errors():
        return call()


# ---------------------------------------------------------------- .env


def project_volumes(project: Project, docker: Any) -> list[str]:
    """Volumes compose made for this project, by the name .env.example gives it (what the
    lost .env would have said); the folder's name is compose's fallback."""
    example = read_env(project.root / ".env.example")
    name = example.get("COMPOSE_PROJECT_NAME") or project.root.name
    with engine_errors():
        found = docker.volume.list(filters=[("label", f"com.docker.compose.project={name}")])
    return [str(v.name) for v in found]


def prepare_env(project: Project, docker: Any) -> envfile.EnvSync:
    """A teammate's fresh clone has no .env: create it (fresh secrets), or add the keys a
    template update brought. Refuses when the project's volumes exist without their .env."""
    missing = not (project.root / ".env").is_file()
    return envfile.ensure(project.root, volumes=project_volumes(project, docker) if missing else ())


# ---------------------------------------------------------------- up


@contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for the compose processes started inside the block."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


def host_ports(container: Any) -> set[int]:
    ports = (container.network_settings.ports or {}) if container.network_settings else {}
    return {
        int(b["HostPort"])
        for bindings in ports.values()
        for b in bindings or []
        if b.get("HostPort")
    }


@dataclass
class UpResult:
    statuses: list[ServiceStatus]
    seconds: float
    gpu: bool
    gpu_reason: str
    env: envfile.EnvSync


def _failed(name: str, state: ContainerState | None, long_running: set[str]) -> bool:
    if state is None:
        return name in long_running
    if name in long_running:
        return state.state != "running" or state.health not in (None, "healthy")
    return state.state == "exited" and state.exit_code not in (None, 0)


def diagnose(
    project: Project, config: dict[str, Any], targets: set[str], docker: Any
) -> StackUnhealthyError | None:
    """The root-cause service (failed, with no failed dependency), its state and last logs."""
    states = containers(project, docker)
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
    state = states.get(name, ContainerState("missing", None, None))
    try:
        logs = str(docker.compose.logs([name], tail="30")).rstrip() or "(no output)"
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
    project: Project,
    config: dict[str, Any],
    targets: set[str],
    client: Any,
    progress: Progress,
    error: Exception,
) -> Exception:
    """The most useful error for a failed `compose up`: a service, a build, or compose itself."""
    failure = diagnose(project, config, targets, client)
    compose_said = [
        line
        for line in str(getattr(error, "stderr", "") or "").splitlines()
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
    said = (progress.errors or compose_said or [str(error)])[-1]
    return StackUnhealthyError(
        f"docker compose up failed: {said}",
        hint="devenv status shows what runs; devenv logs shows why",
        details="\n".join(progress.raw) or None,
    )


def up(
    project: Project,
    names: list[str],
    *,
    build: bool | None,
    timeout: int,
    gpu: str,
    on_progress: Callable[[Progress], None],
) -> UpResult:
    """Preflight, then build and start with live progress, then prove every service works."""
    from python_on_whales.exceptions import DockerException

    started = time.monotonic()
    docker = project.docker()
    with engine_errors():
        info = docker.system.info()
    try:
        version_text: str | None = str(docker.compose.version())
    except DockerException:
        version_text = None
    preflight.check_compose_version(version_text)
    preflight.check_conflicts(project)
    env_sync = prepare_env(project, docker)
    config = services.config(project)
    check_names(services.from_config(config), names)
    engine = engine_facts(info)
    torch_index = read_env(project.root / ".env").get("TORCH_INDEX_URL")
    use_gpu, gpu_reason = gpu_plan(project, gpu, lambda: gpu_layers(engine, torch_index))

    targets = _with_dependencies(config, names) if names else set(config["services"])
    with engine_errors():
        ours = {port for c in docker.compose.ps() for port in host_ports(c)}
        holders = {port: c.name for c in docker.container.list() for port in host_ports(c)}
    preflight.check_ports(
        project, preflight.published_ports(config, targets), ours=ours, container_holding=holders
    )

    progress = Progress(
        str(config.get("name", "")), [n for n in config["services"] if n in targets]
    )
    on_progress(progress)
    client = project.docker(gpu=use_gpu)
    try:
        with _env(COMPOSE_PROGRESS="json"), engine_errors():
            stream = client.compose.up(
                names or None,
                detach=True,
                wait=True,
                wait_timeout=timeout,
                build=bool(build),
                no_build=build is False,
                stream_logs=True,
            )
            for _source, line in stream or []:
                if progress.feed(line.decode(errors="replace")):
                    on_progress(progress)
    except DockerException as error:
        raise _failure(project, config, targets, client, progress, error) from None
    return UpResult(
        status(project, names), time.monotonic() - started, use_gpu, gpu_reason, env_sync
    )


# ---------------------------------------------------------------- reset


@dataclass(frozen=True)
class VolumePlan:
    volume: str  # the engine's name, e.g. myproj_postgres-data
    services: tuple[str, ...]


def reset_plan(project: Project, names: list[str]) -> list[VolumePlan]:
    """The named volumes that `reset` would delete, with the services that use them."""
    config = services.config(project)
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


def reset(project: Project, plans: list[VolumePlan], names: list[str]) -> list[str]:
    """Stop the services using the volumes, then delete the volumes. Returns what was deleted."""
    require_engine()
    docker = project.docker()
    with engine_errors():
        if not names:
            docker.compose.down(volumes=True, remove_orphans=True)
        else:
            affected = sorted({s for plan in plans for s in plan.services})
            docker.compose.rm(affected, stop=True, volumes=True)
            existing: list[Any] = [p.volume for p in plans if docker.volume.exists(p.volume)]
            if existing:
                docker.volume.remove(existing)
    return [p.volume for p in plans]


# ---------------------------------------------------------------- ps, exec, open


@dataclass(frozen=True)
class ContainerRow:
    service: str
    name: str
    state: str
    health: str | None
    exit_code: int | None
    ports: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _port_texts(container: Any) -> list[str]:
    ports = (container.network_settings.ports or {}) if container.network_settings else {}
    return sorted(
        f"{b.get('HostIp') or '0.0.0.0'}:{b['HostPort']}->{inner}"  # noqa: S104 - display only
        for inner, bindings in ports.items()
        for b in bindings or []
        if b.get("HostPort")
    )


def ps(project: Project) -> list[ContainerRow]:
    """Every container of the project, one-shot init containers included, in compose's order."""
    with engine_errors():
        found = project.docker().compose.ps(all=True)
    rows = []
    for c in found:
        labels = c.config.labels or {}
        health = c.state.health.status if c.state.health else None
        rows.append(
            ContainerRow(
                labels.get("com.docker.compose.service", c.name),
                str(c.name),
                str(c.state.status),
                health,
                c.state.exit_code if c.state.status == "exited" else None,
                _port_texts(c),
            )
        )
    return sorted(rows, key=lambda r: r.service)


# A login shell where the image has one: bash when installed, else sh.
DEFAULT_SHELL = ["sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash || exec sh"]


def exec_in(project: Project, service: str, command: list[str], *, tty: bool) -> str | None:
    """Run a command in a running service: on a terminal with a TTY (output live), else with
    output captured and returned. A non-zero exit becomes an error carrying its code."""
    from python_on_whales.exceptions import DockerException

    check_names(services.load(project), [service])
    if containers(project).get(service, ContainerState("missing", None, None)).state != ("running"):
        raise StackUnhealthyError(
            f"{service} is not running", hint=f"start it with: devenv up {service}"
        )
    try:
        with engine_errors():
            out = project.docker().compose.execute(service, command or DEFAULT_SHELL, tty=tty)
    except DockerException as error:
        failed = ExecFailedError(
            f"`{' '.join(command) or 'shell'}` exited with {error.return_code} in {service}",
            hint=f"its output is above; devenv logs {service} shows the service's own log",
            details=str(error.stderr or error.stdout or "").rstrip() or None,
        )
        failed.exit_code = int(error.return_code or 1)
        raise failed from None
    return str(out) if out is not None else None


def service_url(project: Project, service: str, *, console_url: bool = False) -> str:
    """The URL to open for a service: JupyterLab with its token, a console when asked."""
    known = services.load(project)
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
        token = read_env(project.root / ".env").get("JUPYTER_TOKEN")
        url = f"{url}?token={token}" if token else url
    return url
