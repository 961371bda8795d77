"""`devenv up`: preflight, .env, the GPU plan, then compose up with live progress, then every
service proven to work; a stack already as asked is left alone. Also the one way to start a
compose profile's service on demand (the canary's gateway, the registry)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from devenv.core import envfile, services
from devenv.core.errors import (
    BuildFailedError,
    DockerCommandError,
    GpuUnavailableError,
    StackUnhealthyError,
    UsageError,
    shorten,
)
from devenv.core.project import GPU_OVERLAY, Project
from devenv.core.result import Result
from devenv.core.services import check_names
from devenv.docker import compose, podman
from devenv.docker.engine import Engine
from devenv.docker.gpu import Layer
from devenv.docker.gpu import layers as gpu_layers
from devenv.docker.gpu import problems as gpu_problems
from devenv.docker.progress import Progress, Row
from devenv.docker.records import Container
from devenv.stack import pgdata, platforms, preflight, pull
from devenv.stack.status import MISSING, ServiceStatus, status, unhealthy

# How pip, curl and apt say that a certificate chain ends in a CA they do not know.
UNTRUSTED_TLS = (
    "CERTIFICATE_VERIFY_FAILED",
    "certificate verify failed",
    "self-signed certificate",
)

# ---------------------------------------------------------------- .env


def prepare_env(engine: Engine) -> envfile.EnvSync:
    """A teammate's fresh clone has no .env: create it (fresh secrets), or add the keys a
    template update brought. Refuses when the project's volumes exist without their .env."""
    assert engine.project is not None
    root = engine.project.root
    missing = not envfile.holds_settings(root / ".env")
    synced = envfile.ensure(root, volumes=preflight.project_volumes(engine) if missing else ())
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


def parse_gpu_mode(value: str) -> tuple[GpuMode, str | None]:
    """The mode, and a note when an earlier release's word was used."""
    if value in OLD_GPU_WORDS:
        mode = OLD_GPU_WORDS[value]
        return mode, f"note: --gpu {value} is now --gpu {mode.value}"
    try:
        return GpuMode(value), None
    except ValueError:
        raise UsageError(
            f"--gpu must be auto, nvidia or none, got {shorten(value)!r}",
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
    images: list[pull.ImagePlan] = field(default_factory=list)  # cached, pulled or built
    warnings: list[str] = field(default_factory=list)


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
    if failed_build := _build_failure(progress, error, only_if_build=True):
        return failed_build
    said = (progress.errors or compose_said or [error.message])[-1]
    return StackUnhealthyError(
        f"docker compose up failed: {said}",
        hint="devenv status shows what runs; devenv logs shows why",
        details="\n".join(progress.raw) or None,
    )


def _build_failure(
    progress: Progress, error: DockerCommandError, *, only_if_build: bool = False
) -> BuildFailedError | None:
    """A failed build, with the reason pip or apt gave (a certificate not trusted named)."""
    build_errors = [e for e in progress.errors if "solve" in e or "build" in e.lower()]
    said_all = "\n".join([*progress.build_log, *build_errors, error.stderr or ""])
    if any(sign in said_all for sign in UNTRUSTED_TLS) and (build_errors or not only_if_build):
        return BuildFailedError(
            "building the images failed: a TLS certificate was not trusted "
            "(CERTIFICATE_VERIFY_FAILED): something on the way re-signs HTTPS",
            hint="behind a TLS-intercepting proxy, set EXTRA_CA_CERTS in .env to its CA "
            "bundle (PEM), then run devenv up again (docs/corporate-networks.md)",
            details="\n".join(progress.build_log) or None,
        )
    if build_errors or not only_if_build:
        said = (build_errors or [error.message])[-1].splitlines() or ["no reason given"]
        return BuildFailedError(
            f"building the images failed: {said[-1][-300:]}",
            hint=compose.BUILD_HINT,
            details="\n".join([*progress.raw, *progress.build_log]) or None,
        )
    return None


def preflight_results(engine: Engine) -> list[Result]:
    """What `up` checks before it changes anything, in order; `up` stops on the first failure
    (doctor shows the same checks, all of them)."""
    assert engine.project is not None
    return [
        compose.check_version(engine.compose_version),
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
    offline: bool = False,
) -> UpResult:
    """Preflight, then each image cached, pulled or built, then start with live progress,
    then prove every service works. `build`: True rebuilds every image, False never builds
    (nor pulls), None makes what is missing or out of date; `offline`: no registry."""
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
    preflight.check_extra_ca(project.root, engine.env).raise_if_failed()
    config = engine.config
    preflight.check_mlflow_login(config).raise_if_failed()
    check_names(services.from_config(config), names)
    torch_index = engine.env.get("TORCH_INDEX_URL")
    use_gpu, gpu_reason = gpu_plan(project, gpu, lambda: gpu_layers(info.facts, torch_index))
    gpu_note = gpu == "auto" and not use_gpu and (project.root / GPU_OVERLAY).is_file()

    images: list[pull.ImagePlan] = []
    warnings: list[str] = []

    def done(*, unchanged: bool) -> UpResult:
        statuses = status(engine, names)
        seconds = time.monotonic() - started
        return UpResult(
            statuses, seconds, use_gpu, gpu_reason, env_sync, unchanged, gpu_note, images, warnings
        )

    targets = _with_dependencies(config, names) if names else set(config["services"])
    images = pull.plans(engine, targets)
    fresh = build is False or pull.current(engine, images)
    if build is not True and fresh and converged(engine, targets, gpu=use_gpu):
        return done(unchanged=True)
    preflight.check_published_ports(engine, targets).raise_if_failed()
    if "postgres" in targets:
        pgdata.check(engine).raise_if_failed()

    progress = Progress(
        str(config.get("name", "")), [n for n in config["services"] if n in targets]
    )
    on_progress(progress)

    def feed(line: str) -> None:
        if progress.feed(line):
            on_progress(progress)

    on_podman = platforms.runtime_name(info.facts) == "Podman"
    if build is not False:
        _make_images(
            engine,
            images,
            progress,
            force=build is True,
            offline=offline,
            podman_engine=on_podman,
            gpu=use_gpu,
            warn=warnings.append,
            show=on_progress,
        )
        build = False
    try:
        engine.up(names, gpu=use_gpu, build=build, timeout=timeout, on_line=feed)
    except DockerCommandError as error:
        failure = _failure(engine, targets, progress, error)
        if on_podman and isinstance(failure, StackUnhealthyError) and "starting" in failure.message:
            failure.hint = PODMAN_HEALTH_HINT
        raise failure from None
    return done(unchanged=False)


# Podman runs healthchecks from systemd timers: with no systemd (WSL2 without systemd=true,
# a container), none ever runs and every service stays "starting".
PODMAN_HEALTH_HINT = (
    "on Podman, healthchecks run from systemd timers: without systemd none runs (WSL2: set "
    "systemd=true in /etc/wsl.conf); `podman healthcheck run <container>` runs one by hand"
)


def _make_images(
    engine: Engine,
    images: list[pull.ImagePlan],
    progress: Progress,
    *,
    force: bool,
    offline: bool,
    podman_engine: bool,
    gpu: bool,
    warn: Callable[[str], None],
    show: Callable[[Progress], None],
) -> None:
    """Each image cached, pulled or built (only what is left), its row saying which."""

    def say(plan: pull.ImagePlan, phase: str, detail: str) -> None:
        for name in plan.spec.services:
            if name in progress.rows:
                progress.rows[name] = Row(phase, detail)
        show(progress)

    def warned(line: str) -> None:
        warn(line)
        progress.warnings.append(line)

    pull.settle(
        engine,
        images,
        force_build=force,
        offline=offline,
        warn=warned,
        on_pull=lambda plan: say(plan, "Pulling", plan.source or ""),
    )
    for plan in images:
        if plan.how == "pulled":
            say(plan, "pulled", _pulled_detail(plan))
        elif plan.how == "cached":
            say(plan, "cached", plan.tag)
    todo = [p for p in images if p.how == "build"]
    if todo:
        started = time.monotonic()
        if podman_engine:
            for plan in todo:
                say(plan, "Building", "podman build")
            podman.build([p.spec for p in todo])
        else:
            _compose_build(engine, todo, progress, gpu=gpu, show=show)
        pull.mark_built(engine, images, time.monotonic() - started)
        for plan in todo:
            say(plan, "built", f"{plan.tag} in {plan.seconds:.0f}s")
    assert engine.project is not None
    pull.remember(engine.project.root, images, engine)


def _pulled_detail(plan: pull.ImagePlan) -> str:
    size = f"{(plan.size or 0) / 1e6:.0f} MB" if plan.size else "?"
    return f"{size} in {plan.seconds:.1f}s ({(plan.digest or '')[:19]})"


def _compose_build(
    engine: Engine,
    todo: list[pull.ImagePlan],
    progress: Progress,
    *,
    gpu: bool,
    show: Callable[[Progress], None],
) -> None:
    """`compose build` of exactly these images (one service names each), with live progress,
    importing the team's layer cache when the registry is in use. Each image carries BuildKit's
    inline cache, so one pushed seeds a teammate's build."""

    def feed(line: str) -> None:
        if progress.feed(line):
            show(progress)

    names = [p.service for p in todo]
    assert engine.project is not None
    overlay = pull.cache_overlay(engine.project.root, todo)
    try:
        engine.build(
            names, gpu=gpu, args={"BUILDKIT_INLINE_CACHE": "1"}, on_line=feed, overlay=overlay
        )
    except DockerCommandError as error:
        failure = _build_failure(progress, error)
        assert failure is not None  # a build's failure is always one
        raise failure from None


def start_service(
    engine: Engine, name: str, *, timeout: int, on_progress: Callable[[Progress], None]
) -> UpResult:
    """Start one service of a compose profile on demand (the canary's gateway, the registry),
    then fail, naming it, unless it works."""
    result = up(engine, [name], build=None, timeout=timeout, gpu="auto", on_progress=on_progress)
    if failure := unhealthy(result.statuses, started=True):
        raise failure
    return result
