"""A project's running stack: state, health and app-level probes, and the lifecycle verbs.

Every Docker call goes through `Project.docker()` (python-on-whales); engine failures become
one EngineUnavailableError with a hint, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from devenv import health, services
from devenv.envfile import read_env
from devenv.errors import EngineUnavailableError, UnknownServiceError
from devenv.health import ProbeResult
from devenv.project import Project
from devenv.services import Service

T = TypeVar("T")


@contextmanager
def engine_errors() -> Iterator[None]:
    """Turn python-on-whales' failures to reach the engine into one clear error."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except DockerException as error:
        text = f"{error.stderr or ''} {error}".lower()
        if (
            "cannot connect" in text
            or "is the docker daemon running" in text
            or ("connect" in text and "docker.sock" in text)
        ):
            raise EngineUnavailableError(
                "the Docker engine is not answering",
                hint="start Docker (Docker Desktop, or: sudo systemctl start docker); "
                "check DOCKER_HOST if you set it",
            ) from None
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


def _base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def probe(project: Project, service: Service, env: dict[str, str]) -> ProbeResult | None:
    """The app-level check named by the service's `devenv.probe` label."""
    kind, url = service.probe, service.url or ""
    if kind == "mlflow":
        return health.mlflow_api(_base(url))
    if kind == "jupyter":
        return health.jupyter_api(_base(url), env.get("JUPYTER_TOKEN", ""))
    if kind == "serving":
        return health.http_ok(_base(url) + "/health")
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


def containers(project: Project) -> dict[str, tuple[str, str | None]]:
    """Service name -> (container state, healthcheck status)."""
    with engine_errors():
        found = project.docker().compose.ps(all=True)
    states: dict[str, tuple[str, str | None]] = {}
    for container in found:
        name = (container.config.labels or {}).get("com.docker.compose.service", container.name)
        health_status = container.state.health.status if container.state.health else None
        states[name] = (str(container.state.status), health_status)
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
    result = []
    for service in known:
        if names and service.name not in names:
            continue
        state, health_status = states.get(service.name, ("missing", None))
        checked = probe(project, service, env) if state == "running" else None
        result.append(ServiceStatus(service, state, health_status, checked))
    return result


def with_engine(call: Callable[[], T]) -> T:
    with engine_errors():
        return call()
