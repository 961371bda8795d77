"""A fake Engine (devenv.engine, the one door to Docker): just the calls our code makes, with
recorded data and a log of what was asked. Real engines are in tests/e2e."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from devenv.core.project import Project
from devenv.docker.engine import Engine
from devenv.docker.records import Container, ExecResult


def container(
    service: str,
    state: str,
    health: str | None = None,
    exit_code: int = 0,
    bindings: tuple[tuple[str, int, str], ...] = (),
) -> Container:
    return Container(service, f"proj-{service}-1", state, health, exit_code, bindings)


class FakeEngine(Engine):
    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        super().__init__(Project(root))
        self._config = config
        self.running: list[Container] = []
        self.logs_said = ""
        self.exec_result = ExecResult(0, "1")
        self.calls: list[tuple[str, Any]] = []
        self.hashes: dict[str, str] = {}
        self.images: dict[str, str] = {}

    @property
    def config(self) -> dict[str, Any]:
        assert self._config is not None
        return self._config

    @config.setter
    def config(self, value: dict[str, Any]) -> None:
        self._config = value

    def responds(self) -> bool:
        return True

    def containers(self, *, all: bool = True) -> list[Container]:
        return [c for c in self.running if all or c.running]

    def config_hashes(self, names: Sequence[str], *, gpu: bool = False) -> dict[str, str]:
        return {n: self.hashes[n] for n in names if n in self.hashes}

    def image_exists(self, tag: str) -> bool:
        return tag in self.images

    def image_ids(self, tags: Sequence[str]) -> dict[str, str]:
        return {t: self.images[t] for t in tags if t in self.images}

    def exec(
        self,
        service: str,
        command: Sequence[str],
        *,
        tty: bool = False,
        waiting: str | None = None,
    ) -> ExecResult:
        self.calls.append(("exec", (service, list(command))))
        return self.exec_result

    def logs(
        self,
        names: Sequence[str] = (),
        *,
        tail: int | None = None,
        follow: bool = False,
        since: str | None = None,
    ) -> Iterator[str]:
        self.calls.append(("logs", (list(names), tail)))
        yield self.logs_said


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
