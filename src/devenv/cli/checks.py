"""Proving things work: doctor (the machine and project), gpu-check, smoke (the ML loop), and
onboard (a new hire's whole path, timed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from devenv.cli.base import (
    ForceOption,
    JsonOption,
    OfflineOption,
    engine,
    engine_for,
    finish,
    interruptible,
    live,
    live_table,
    path_argument,
    views,
)


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
    from devenv.ml.gpu import check

    with interruptible("the probe was stopped; nothing changed"):
        report = check.run(engine(), service)
    views().gpu_check(report, as_json=json_output)
    finish(check.missing_cuda(report) if require_gpu else None)


def doctor(
    *,
    json_output: JsonOption = False,
    report: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH", help="Also write a redacted diagnostic bundle (JSON) for a bug report."
        ),
    ] = None,
    platform_only: Annotated[
        bool,
        typer.Option(
            "--platform",
            help="Only print the platform line: OS and CPU, the engine and its version, WSL2.",
        ),
    ] = False,
    force: ForceOption = False,
) -> None:
    """Check this machine (and the project you are in) before anything goes wrong.

    The platform (OS, CPU, engine and version, WSL2), Docker engine and compose versions, disk,
    the engine's own memory and CPUs against the services (a VM's on Docker Desktop, colima,
    Rancher Desktop, Podman), host ports, the GPU layers, proxies and NO_PROXY, the CA bundle,
    git, and the project's files (.env complete against .env.example, no update conflicts, LF
    line endings, not on WSL2's /mnt/<drive>). Each: ok, warn or fail, with a fix. Exit 0
    unless something fails.

    Examples:

      devenv doctor

      devenv doctor --json --report doctor-report.json

      devenv doctor --platform
    """
    from devenv.core import outputs
    from devenv.stack import doctor as doc
    from devenv.ui import console

    machine = engine(anywhere=True)
    root = machine.project.root if machine.project else None
    target = outputs.check(report, root=root, force=force, flag="--report") if report else None
    if platform_only:
        views().platform(doc.describe_platform(machine), as_json=json_output)
        return
    checks = doc.run(machine.project, engine=machine)
    views().checks(checks, as_json=json_output)
    if target is not None:
        written = doc.report(machine.project, checks, target, engine=machine)
        console.info(f"diagnostic bundle (secrets redacted): {written}")
    finish(doc.failure(checks))


def onboard(
    dest: Annotated[
        str | None,
        typer.Argument(
            metavar="DEST", help="Where to create the project when you are not inside one."
        ),
    ] = None,
    *,
    build: Annotated[
        bool, typer.Option("--build", help="Build every image here instead of pulling it.")
    ] = False,
    offline: OfflineOption = False,
    json_output: JsonOption = False,
) -> None:
    """New hire? From a laptop with Docker to a served model, timed phase by phase.

    doctor -> new (only without a project; an existing one is used with its .env) -> up ->
    status -> gpu-check -> smoke, then a summary: URLs, where the credentials are, next steps,
    and the time of each phase. Running it again skips what is already done. A fresh clone
    gets its own .env from .env.example, with fresh secrets. When the project names the
    team's registry (IMAGE_REGISTRY), images CI built are pulled instead of built.

    Examples:

      devenv onboard

      devenv onboard my-project --json
    """
    from devenv.ml import onboard as flow

    folder = path_argument(dest, what="DEST") if dest is not None else None
    show, renderer = views(), live_table()
    with interruptible("re-run devenv onboard: it picks up where it stopped"), renderer:
        result = flow.run(
            folder,
            on_phase=show.phase,
            on_progress=live(renderer),
            engine_for=engine_for,
            build=True if build else None,
            offline=offline,
        )
    show.onboard(result, as_json=json_output)


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
    from devenv.ml import smoke as loop

    stack = engine()
    started = time.monotonic()
    with interruptible("the smoke test was stopped; the stack is as it was"):
        stack.require()
        steps = loop.run(stack)
    views().checks(steps, as_json=json_output, seconds=time.monotonic() - started)
    finish(loop.failure(steps), success=f"golden path proven in {time.monotonic() - started:.1f}s")


def test(
    pytest_args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[-- PYTEST_ARGS]", help="Passed to pytest, after --.", show_default=False
        ),
    ] = None,
    *,
    lint: Annotated[
        bool, typer.Option("--lint/--no-lint", help="Run ruff (lint and format check) first.")
    ] = True,
) -> None:
    """Run the project's checks and tests inside the JupyterLab image (results match it).

    ruff (lint, then format --check) and pytest run in a throwaway container of the image the
    code runs in, with the project mounted read-only; the stack need not be up. The tests use
    their own MLflow (a SQLite file in a temporary folder), never the stack's. Exits with
    ruff's or pytest's exit code.

    Examples:

      devenv test

      devenv test -- -x -k predict

      devenv test --no-lint -- tests/test_train.py
    """
    from devenv.ml import project_tests

    started = time.monotonic()
    with interruptible("the tests were stopped; nothing in the project changed"):
        project_tests.run(engine(), pytest_args or [], lint=lint)
    finish(None, success=f"checks and tests passed in {time.monotonic() - started:.1f}s")
