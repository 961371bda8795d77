"""The stack's services, read from the `devenv.*` labels in compose.yaml: one list, not two."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from devenv.errors import DevenvError, EngineUnavailableError
from devenv.project import Project

LABEL = "devenv."


@dataclass(frozen=True)
class Service:
    name: str
    title: str
    url: str | None
    probe: str | None
    console: str | None
    order: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_config(config: dict[str, Any]) -> list[Service]:
    """Long-running services with their URLs and probes, from `docker compose config` JSON."""
    found = []
    for name, spec in (config.get("services") or {}).items():
        labels = {
            k[len(LABEL) :]: v for k, v in (spec.get("labels") or {}).items() if k.startswith(LABEL)
        }
        if labels.get("oneshot") == "true":
            continue
        found.append(
            Service(
                name=name,
                title=labels.get("title", name),
                url=labels.get("url"),
                probe=labels.get("probe"),
                console=labels.get("console"),
                order=int(labels.get("order", "1000")),
            )
        )
    return sorted(found, key=lambda s: (s.order, s.name))


def base(url: str) -> str:
    """scheme://host:port of a URL label (the serving label points at /docs, Jupyter's at /lab)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def by_probe(known: list[Service], probe: str) -> Service | None:
    """The service that answers a kind of probe (mlflow, s3, postgres, jupyter, serving): the
    one place the rest of devenv learns where a service is, whatever its name or port."""
    return next((s for s in known if s.probe == probe and s.url), None)


# What the docker CLI says when `compose` is no plugin of it: it reads compose's own flags, or
# the word itself, as unknown.
COMPOSE_MISSING = (
    "unknown command: docker compose",
    "'compose' is not a docker command",
    "unknown flag: --file",
    "unknown flag: --project-directory",
)


def _compose_missing(stderr: str) -> bool:
    return any(marker in stderr for marker in COMPOSE_MISSING)


def config(project: Project) -> dict[str, Any]:
    """`docker compose config` as JSON: the project as compose resolves it (with .env)."""
    from python_on_whales.exceptions import DockerException

    try:
        result: dict[str, Any] = project.docker().compose.config(return_json=True)
    except DockerException as error:
        if bad_host := bad_docker_host(error):
            raise bad_host from None
        if _compose_missing(str(error.stderr or "")):
            from devenv.preflight import check_compose_version

            check_compose_version(None)  # raises the one "compose v2 missing" error (exit 11)
        detail = (error.stderr or str(error)).strip().splitlines()
        raise DevenvError(
            f"docker compose could not read {project.root / 'compose.yaml'}: "
            f"{detail[-1] if detail else 'unknown error'}",
            hint="check .env against .env.example; `docker compose config` shows the details",
        ) from None
    except FileNotFoundError:
        raise DevenvError(
            "the docker CLI is not installed", hint="install Docker Engine or Docker Desktop"
        ) from None
    return result


def bad_docker_host(error: BaseException) -> EngineUnavailableError | None:
    """The docker CLI's complaint about a malformed DOCKER_HOST, as one error naming it; None
    for any other failure. The one place that recognises it."""
    if "docker endpoint" not in str(getattr(error, "stderr", "") or ""):
        return None
    value = os.environ.get("DOCKER_HOST", "")
    return EngineUnavailableError(
        f"DOCKER_HOST={value} is not an engine address docker understands",
        hint="unset DOCKER_HOST, or set it like unix:///var/run/docker.sock or tcp://HOST:2375",
    )


def load(project: Project) -> list[Service]:
    return from_config(config(project))
