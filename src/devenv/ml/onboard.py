"""`devenv onboard`: from a laptop with Docker to a served model, timed phase by phase.

doctor -> new (only when there is no project yet) -> up -> status -> gpu-check -> smoke.
Running it again skips what is already done: an existing project is used as it is (with its
.env), a working stack is not restarted, a model already served is not retrained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from devenv.core import http, services
from devenv.core.errors import DevenvError, DoctorFailedError, ProjectNotFoundError
from devenv.core.project import Project, find_project
from devenv.core.result import Result
from devenv.docker.engine import Engine
from devenv.docker.progress import Progress
from devenv.ml import smoke
from devenv.ml.gpu import check as gpu_check
from devenv.scaffold import new as scaffold
from devenv.stack import doctor, pull, start, status

# A phase did its work (ok) or found it already done (skip); a failure raises.
Outcome = Literal["ok", "skip"]


@dataclass
class OnboardResult:
    root: Path
    phases: list[Result] = field(default_factory=list)
    urls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(p.seconds or 0.0 for p in self.phases)


def _serving_ready(engine: Engine) -> bool:
    serving = services.by_probe(services.from_config(engine.config), "serving")
    if serving is None:
        return False
    try:
        url = services.base(serving.url or "") + "/ready"
        http.request("GET", url, service="the serving API", doing="say if a model is loaded")
    except DevenvError:  # not answering, or 503: no model loaded yet
        return False
    return True


def run(
    dest: Path | None,
    *,
    on_phase: Callable[[Result], None],
    on_progress: Callable[[Progress], None],
    engine_for: Callable[[Project | None], Engine] = Engine,
    build: bool | None = None,
    offline: bool = False,
) -> OnboardResult:
    """`engine_for`: the command's way to make an Engine (the CLI's, which tests stand in for)."""

    def timed(name: str, action: Callable[[], tuple[Outcome, str]]) -> Result:
        started = time.monotonic()
        try:
            outcome, detail = action()
        except DevenvError as error:
            phase = Result(name, "fail", error.message, error.hint)
            phase.seconds = time.monotonic() - started
            on_phase(phase)
            result.phases.append(phase)
            raise
        phase = Result(name, outcome, detail, seconds=time.monotonic() - started)
        on_phase(phase)
        result.phases.append(phase)
        return phase

    try:
        project: Project | None = find_project(dest) if dest and dest.exists() else find_project()
    except ProjectNotFoundError:
        project = None
    target = project.root if project else (dest or Path("my-ml-project")).resolve()
    result = OnboardResult(target)

    engine = engine_for(project)

    def check() -> tuple[Outcome, str]:
        checks = doctor.run(project, engine=engine)
        failed = [c for c in checks if c.status == "fail"]
        if len(failed) == 1:
            only = failed[0]
            raise DoctorFailedError(f"doctor: {only.name}: {only.detail}", hint=only.fix)
        if failed:
            # Every failure at once, each with its fix: one round trip for the new hire.
            lines = [
                f"  {c.name}: {c.detail}" + (f"\n    fix: {c.fix}" if c.fix else "") for c in failed
            ]
            raise DoctorFailedError(
                f"doctor: {len(failed)} checks failed: {', '.join(c.name for c in failed)}",
                hint="apply each fix above, then run devenv onboard again",
                details="\n".join(lines),
            )
        warns = [c.name for c in checks if c.status == "warn"]
        return "ok", f"{len(checks)} checks" + (f", warnings: {', '.join(warns)}" if warns else "")

    def create() -> tuple[Outcome, str]:
        nonlocal project, engine
        if project is not None:
            # A teammate's clone has no .env (it is git-ignored): made here, fresh secrets.
            engine.require()
            synced = start.prepare_env(engine)
            if synced.created:
                return "ok", f"{project.root}: .env created from .env.example, fresh secrets"
            if synced.added:
                return "ok", f"{project.root}: added {', '.join(synced.added)} to .env"
            return "skip", f"using the existing project in {project.root}"
        made = scaffold.new_project(target, {}, defaults=True)
        project = Project(made.dest)
        engine = engine_for(project)
        return "ok", f"created {made.dest} (secrets generated into .env)"

    def bring_up() -> tuple[Outcome, str]:
        current = status.status(engine)
        if current and all(s.ok for s in current):
            return "skip", "the stack is already up and working"
        up = start.up(
            engine,
            [],
            build=build,
            timeout=900,
            gpu="auto",
            on_progress=on_progress,
            offline=offline,
        )
        if failure := status.unhealthy(up.statuses, started=True):
            raise failure
        made = pull.summary(up.images)
        return "ok", f"up in {up.seconds:.0f}s; {made + '; ' if made else ''}{up.gpu_reason}"

    def verify() -> tuple[Outcome, str]:
        current = status.status(engine)
        if failure := status.unhealthy(current):
            raise failure
        return "ok", f"{len(current)} services pass their probes"

    def gpu_layer() -> tuple[Outcome, str]:
        if "jupyter" not in {s.name for s in services.from_config(engine.config)}:
            return "skip", "no JupyterLab in this project"
        report = gpu_check.run(engine, "jupyter")
        last = report.layers[-1]
        return "ok", ("GPU works: " if report.cuda_available else "CPU only: ") + last.detail

    def loop() -> tuple[Outcome, str]:
        assert project is not None
        answers = project.answers()
        if not (answers.get("include_jupyter") and answers.get("include_serving")):
            return "skip", "the project has no JupyterLab or no serving API"
        if _serving_ready(engine):
            return "skip", "a model is already served"
        steps = smoke.run(engine)
        if failed := smoke.failure(steps):
            raise failed
        return "ok", f"{len(steps)} steps: trained, tracked, stored, registered, served"

    timed("doctor", check)
    timed("project", create)
    timed("up", bring_up)
    timed("status", verify)
    timed("gpu-check", gpu_layer)
    timed("smoke", loop)
    result.urls = status.url_rows(status.status(engine), engine.env.get("JUPYTER_TOKEN"))
    return result
