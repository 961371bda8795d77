"""`devenv onboard`: from a laptop with Docker to a served model, timed phase by phase.

doctor -> new (only when there is no project yet) -> up -> status -> gpu-check -> smoke.
Running it again skips what is already done: an existing project is used as it is (with its
.env), a working stack is not restarted, a model already served is not retrained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devenv import doctor, scaffold, services, smoke, stack
from devenv.envfile import read_env
from devenv.errors import DevenvError, DoctorFailedError, ProjectNotFoundError
from devenv.progress import Progress
from devenv.project import Project, find_project


@dataclass
class Phase:
    name: str
    status: str  # done | skipped | failed
    detail: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OnboardResult:
    root: Path
    phases: list[Phase] = field(default_factory=list)
    urls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


def _serving_ready(project: Project) -> bool:
    serving = services.by_probe(services.load(project), "serving")
    if serving is None:
        return False
    try:
        return httpx.get(services.base(serving.url or "") + "/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def run(
    dest: Path | None,
    *,
    on_phase: Callable[[Phase], None],
    on_progress: Callable[[Progress], None],
) -> OnboardResult:
    def timed(name: str, action: Callable[[], tuple[str, str]]) -> Phase:
        started = time.monotonic()
        try:
            status, detail = action()
        except DevenvError as error:
            phase = Phase(name, "failed", error.message, time.monotonic() - started)
            on_phase(phase)
            result.phases.append(phase)
            raise
        phase = Phase(name, status, detail, time.monotonic() - started)
        on_phase(phase)
        result.phases.append(phase)
        return phase

    try:
        project: Project | None = find_project(dest) if dest and dest.exists() else find_project()
    except ProjectNotFoundError:
        project = None
    target = project.root if project else (dest or Path("my-ml-project")).resolve()
    result = OnboardResult(target)

    def check() -> tuple[str, str]:
        checks = doctor.run(project)
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
        return "done", f"{len(checks)} checks" + (
            f", warnings: {', '.join(warns)}" if warns else ""
        )

    def create() -> tuple[str, str]:
        nonlocal project
        if project is not None:
            # A teammate's clone has no .env (it is git-ignored): made here, fresh secrets.
            found = project
            synced = stack.with_engine(lambda: stack.prepare_env(found, found.docker()))
            if synced.created:
                return "done", f"{project.root}: .env created from .env.example, fresh secrets"
            if synced.added:
                return "done", f"{project.root}: added {', '.join(synced.added)} to .env"
            return "skipped", f"using the existing project in {project.root}"
        made = scaffold.new_project(target, {}, defaults=True)
        project = Project(made.dest)
        return "done", f"created {made.dest} (secrets generated into .env)"

    def start() -> tuple[str, str]:
        assert project is not None
        current = stack.status(project)
        if current and all(s.ok for s in current):
            return "skipped", "the stack is already up and working"
        up = stack.up(project, [], build=None, timeout=900, gpu="auto", on_progress=on_progress)
        failing = [s.service.name for s in up.statuses if not s.ok]
        if failing:
            raise DevenvError(
                f"started, but not working: {', '.join(failing)}", hint=f"devenv logs {failing[0]}"
            )
        return "done", f"up in {up.seconds:.0f}s; {up.gpu_reason}"

    def verify() -> tuple[str, str]:
        assert project is not None
        current = stack.status(project)
        bad = [s.service.name for s in current if not s.ok]
        if bad:
            raise DevenvError(f"not working: {', '.join(bad)}", hint=f"devenv logs {bad[0]}")
        return "done", f"{len(current)} services pass their probes"

    def gpu_layer() -> tuple[str, str]:
        assert project is not None
        from devenv import gpu_check

        if "jupyter" not in {s.service.name for s in stack.status(project)}:
            return "skipped", "no JupyterLab in this project"
        report = gpu_check.run(project, "jupyter")
        last = report.layers[-1]
        return "done", ("GPU works: " if report.cuda_available else "CPU only: ") + last.detail

    def loop() -> tuple[str, str]:
        assert project is not None
        answers = project.answers()
        if not (answers.get("include_jupyter") and answers.get("include_serving")):
            return "skipped", "the project has no JupyterLab or no serving API"
        if _serving_ready(project):
            return "skipped", "a model is already served"
        steps = smoke.run(project)
        smoke.raise_on_failure(steps)
        return "done", f"{len(steps)} steps: trained, tracked, stored, registered, served"

    timed("doctor", check)
    timed("project", create)
    timed("up", start)
    timed("status", verify)
    timed("gpu-check", gpu_layer)
    timed("smoke", loop)
    assert project is not None
    token = read_env(project.root / ".env").get("JUPYTER_TOKEN")
    result.urls = stack.url_rows(stack.status(project), token)
    return result
