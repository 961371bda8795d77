"""A fake at the python-on-whales boundary: just the calls our code makes, with recorded data."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


def container(
    service: str,
    state: str,
    health: str | None = None,
    exit_code: int = 0,
    ports: dict[str, Any] | None = None,
) -> SimpleNamespace:
    return SimpleNamespace(
        name=f"proj-{service}-1",
        id=f"id-{service}",
        config=SimpleNamespace(labels={"com.docker.compose.service": service}),
        state=SimpleNamespace(
            status=state,
            health=SimpleNamespace(status=health) if health else None,
            exit_code=exit_code,
        ),
        network_settings=SimpleNamespace(ports=ports or {}),
    )


@dataclass
class FakeCompose:
    config_json: dict[str, Any]
    containers: list[SimpleNamespace] = field(default_factory=list)
    logs_text: str = ""
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def config(self, return_json: bool = False) -> dict[str, Any]:
        return self.config_json

    def ps(self, all: bool = False) -> list[SimpleNamespace]:
        return [c for c in self.containers if all or c.state.status == "running"]

    def logs(self, services: list[str], tail: str | None = None, **_: Any) -> str:
        self.calls.append(("logs", (services, tail)))
        return self.logs_text

    def execute(self, service: str, command: list[str], tty: bool = False) -> str:
        self.calls.append(("execute", (service, command)))
        return "1"


@dataclass
class FakeDocker:
    compose: FakeCompose


CONFIG: dict[str, Any] = {
    "name": "proj",
    "services": {
        "postgres": {"labels": {"devenv.probe": "postgres", "devenv.order": "10"}},
        "bucket-init": {
            "labels": {"devenv.oneshot": "true"},
            "depends_on": {"postgres": {"condition": "service_healthy"}},
        },
        "mlflow": {
            "labels": {
                "devenv.probe": "none",
                "devenv.order": "30",
                "devenv.url": "http://localhost:5050",
            },
            "depends_on": {"postgres": {}, "bucket-init": {}},
        },
        "serving": {"labels": {"devenv.order": "50"}, "depends_on": {"mlflow": {}}},
    },
}
