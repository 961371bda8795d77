"""The stack's services, read from the `devenv.*` labels in compose.yaml: one list, not two."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from devenv.errors import UnknownServiceError

if TYPE_CHECKING:
    from devenv.engine import Engine

LABEL = "devenv."


@dataclass(frozen=True)
class Service:
    name: str
    title: str
    url: str | None
    probe: str | None
    console: str | None
    order: int
    probe_in: str | None = None  # the service whose container runs an exec probe (default: it)
    admin: str | None = None  # an admin API on loopback (the canary gateway's Envoy)

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
                probe_in=labels.get("probe-in"),
                admin=labels.get("admin"),
            )
        )
    return sorted(found, key=lambda s: (s.order, s.name))


# Every kind of probe devenv knows, and where it runs: over HTTP from the host, or as a command
# inside a container. A `devenv.probe` label must name one of these (a template test checks).
PROBES = {
    "mlflow": "host",
    "jupyter": "host",
    "serving": "host",
    "postgres": "container",
    "s3": "container",
    "gateway": "host",
    "registry": "host",
}


def base(url: str) -> str:
    """scheme://host:port of a URL label (the serving label points at /docs, Jupyter's at /lab)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def by_probe(known: list[Service], probe: str) -> Service | None:
    """The service that answers a kind of probe (mlflow, s3, postgres, jupyter, serving): the
    one place the rest of devenv learns where a service is, whatever its name or port."""
    return next((s for s in known if s.probe == probe and s.url), None)


def load(engine: Engine) -> list[Service]:
    return from_config(engine.config)


def check_names(known: list[Service], names: list[str]) -> None:
    valid = {s.name for s in known}
    for name in names:
        if name not in valid:
            raise UnknownServiceError(
                f"unknown service {name!r}", hint="services: " + ", ".join(sorted(valid))
            )
