"""The plain records the engine hands out (never python-on-whales objects): a container, the
result of a command run in one, and what devenv reads of `docker info`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Container:
    service: str
    name: str
    state: str
    health: str | None
    exit_code: int | None
    # (host ip, host port, container port/protocol) for each published port.
    bindings: tuple[tuple[str, int, str], ...] = ()
    id: str = ""
    image: str = ""  # the tag it was made from
    image_id: str = ""  # the image it runs
    config_hash: str = ""  # compose's hash of the service's configuration when made

    @property
    def host_ports(self) -> set[int]:
        return {port for _ip, port, _inner in self.bindings}

    @property
    def running(self) -> bool:
        return self.state == "running"

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "name": self.name,
            "state": self.state,
            "health": self.health,
            "exit_code": self.exit_code if self.state == "exited" else None,
            "ports": [f"{ip}:{port}->{inner}" for ip, port, inner in self.bindings],
        }


@dataclass(frozen=True)
class ExecResult:
    code: int
    stdout: str
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0

    def last_line(self, fallback: str = "failed") -> str:
        lines = (self.stderr or self.stdout).strip().splitlines()
        return lines[-1] if lines else fallback


@dataclass(frozen=True)
class ImageFacts:
    id: str
    architecture: str  # Docker's words: amd64, arm64
    size: int  # bytes
    repo_digests: tuple[str, ...] = ()  # `repository@sha256:…` where it was pushed or pulled


@dataclass(frozen=True)
class EngineInfo:
    """What devenv reads of `docker info`, in its own keys (doctor and the GPU layers)."""

    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def server_version(self) -> str | None:
        value = self.facts.get("ServerVersion")
        return str(value) if value else None


def parse_container(raw: Any) -> Container:
    """A python-on-whales container as our record (the engine passes it in; no import here)."""
    labels = (raw.config.labels or {}) if raw.config else {}
    state = raw.state
    ports = (raw.network_settings.ports or {}) if raw.network_settings else {}
    bindings = tuple(
        sorted(
            (str(b.get("HostIp") or "0.0.0.0"), int(b["HostPort"]), str(inner))  # noqa: S104
            for inner, found in ports.items()
            for b in found or []
            if b.get("HostPort")
        )
    )
    return Container(
        service=str(labels.get("com.docker.compose.service", raw.name)),
        name=str(raw.name),
        state=str(state.status),
        health=state.health.status if state.health else None,
        exit_code=state.exit_code,
        bindings=bindings,
        id=str(raw.id),
        image=str((raw.config.image if raw.config else "") or ""),
        image_id=str(raw.image or ""),
        config_hash=str(labels.get("com.docker.compose.config-hash", "")),
    )
