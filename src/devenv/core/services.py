"""The stack's services, read from the `devenv.*` labels in compose.yaml: one list, not two.
The probe kinds a `devenv.probe` label names live in devenv.stack.probes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from devenv.core.errors import UnknownServiceError, shorten

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
    profile: str | None = None  # the compose profile that starts it (canary, registry), if any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labels(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("labels") or {}
    if isinstance(raw, list):  # compose.yaml as written may list `key=value`; config never does
        raw = dict(str(item).partition("=")[::2] for item in raw)
    return {k[len(LABEL) :]: v for k, v in raw.items() if k.startswith(LABEL)}


def _oneshot(spec: dict[str, Any]) -> bool:
    return _labels(spec).get("oneshot") == "true"


def from_config(config: dict[str, Any]) -> list[Service]:
    """Long-running services with their URLs and probes, from `docker compose config` JSON."""
    found = []
    for name, spec in (config.get("services") or {}).items():
        labels = _labels(spec)
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
                profile=next(iter(spec.get("profiles") or []), None),
            )
        )
    return sorted(found, key=lambda s: (s.order, s.name))


# Images built here and never pushed: the local registry's own (it holds the pushed ones).
LOCAL_ONLY = frozenset({"registry"})


def built_images(config: dict[str, Any]) -> dict[str, str]:
    """service -> image, once for each image the compose model builds. Where services share an
    image (bucket-init runs MLflow's), the long-running one names it."""
    services = config.get("services") or {}
    found: dict[str, str] = {}
    for name in sorted(services, key=lambda n: (_oneshot(services[n]), n)):
        image = services[name].get("image")
        if "build" in services[name] and image and image not in found.values():
            found[name] = str(image)
    return dict(sorted(found.items()))


def base(url: str) -> str:
    """scheme://host:port of a URL label (the serving label points at /docs, Jupyter's at /lab)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def by_probe(known: list[Service], probe: str) -> Service | None:
    """The service that answers a kind of probe (mlflow, s3, postgres, jupyter, serving): the
    one place the rest of devenv learns where a service is, whatever its name or port."""
    return next((s for s in known if s.probe == probe and s.url), None)


def check_names(known: list[Service], names: list[str]) -> None:
    valid = {s.name for s in known}
    for name in names:
        if name not in valid:
            raise UnknownServiceError(
                f"unknown service {shorten(name)!r}", hint="services: " + ", ".join(sorted(valid))
            )
