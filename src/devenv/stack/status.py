"""Is each service running, healthy and really working: state, health and a probe per
service, the one rule for "not working", and the URL rows summaries show."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from devenv.core import services
from devenv.core.errors import StackUnhealthyError
from devenv.core.result import Result
from devenv.core.services import Service, check_names
from devenv.docker.engine import Engine
from devenv.docker.records import Container
from devenv.stack import pull
from devenv.stack.health import ProbeResult
from devenv.stack.probes import probe

MISSING = Container("", "", "missing", None, None)
# The command that starts each compose profile's services.
STARTED_BY = {"canary": "devenv canary start", "registry": "devenv images push"}


@dataclass(frozen=True)
class ServiceStatus:
    service: Service
    state: str
    health: str | None
    probe: ProbeResult | None
    image: dict[str, Any] | None = None  # where its image came from (devenv.stack.pull)

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
                "image": self.image,
            },
        )


def status(engine: Engine, names: list[str] | None = None) -> list[ServiceStatus]:
    """State, health and a probe for each long-running service (probes only when running).

    A service of a compose profile (the canary's, the registry) counts only while it has a
    container, or when named: a stack without the canary is not failing for lack of it."""
    engine.prefetch("config", "states")
    known = services.from_config(engine.config)
    check_names(known, names or [])
    states = engine.states()
    if names:
        chosen = [s for s in known if s.name in names]
    else:
        chosen = [s for s in known if s.profile is None or s.name in states]
    current = {s.name: states.get(s.name, MISSING) for s in chosen}
    origins = pull.origins(engine, {name: c.image_id for name, c in current.items()})
    # Probes are independent network or exec calls: run them side by side.
    with ThreadPoolExecutor(max_workers=max(1, len(chosen))) as pool:
        futures = {s.name: pool.submit(probe, engine, s) for s in chosen if current[s.name].running}
        return [
            ServiceStatus(
                s,
                current[s.name].state,
                current[s.name].health,
                futures[s.name].result() if s.name in futures else None,
                origins.get(s.name),
            )
            for s in chosen
        ]


def unhealthy(
    statuses: list[ServiceStatus], *, started: bool = False
) -> StackUnhealthyError | None:
    """The one rule for "the stack is not working", and its one error (exit 13), for status,
    up, onboard and the rest."""
    # A service whose own container is down (stopped, paused) comes first: it is the likely
    # cause of the others (the object store's probe runs in MLflow's container).
    down = [st.service for st in statuses if not st.ok and st.state != "running"]
    failing = down + [st.service for st in statuses if not st.ok and st.service not in down]
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
