"""The container half of the one door to Docker, for what compose cannot do for us: finding a
project's containers by compose's labels alone (when .env is broken), stopping them, copying
files in and out of a service, and a throwaway container that reads a volume. A mixin of
`Engine` (devenv.docker.engine), which brings `_call`, `_change` and the error mapping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.docker.records import Container, parse_container

if TYPE_CHECKING:
    from devenv.core.project import Project

Client = Any  # python-on-whales' DockerClient: only devenv.docker.engine imports it
WORKING_DIR = "com.docker.compose.project.working_dir"


class Containers:
    def _call(
        self, action: Callable[[Client], Any], *, gpu: bool = False, extra: Sequence[Path] = ()
    ) -> Any:
        raise NotImplementedError  # Engine's

    def _change(self, action: Callable[[Client], Any], *, gpu: bool = False) -> Any:
        raise NotImplementedError  # Engine's

    def _project(self) -> Project:
        raise NotImplementedError  # Engine's

    def labelled(self) -> list[Container]:
        """The project's containers found by compose's own labels, without reading compose.yaml
        or .env (what `down` stops when .env is missing or broken)."""
        root = self._project().root
        found: dict[str, Container] = {}
        for folder in {str(root), str(root.resolve())}:
            wanted = [("label", f"{WORKING_DIR}={folder}")]

            def listed(d: Client, wanted: Any = wanted) -> Any:
                return d.container.list(all=True, filters=wanted)

            found.update({c.id: c for c in map(parse_container, self._call(listed))})
        return list(found.values())

    def stop_containers(self, ids: Sequence[str], *, timeout: int = 10) -> None:
        """Stop and remove these containers (their volumes stay)."""

        def stop(d: Client) -> None:
            d.container.stop(list(ids), time=timeout)
            d.container.remove(list(ids))

        if ids:
            self._change(stop)

    def stop_services(self, names: Sequence[str]) -> None:
        """`compose stop`: the containers stay, to be started again as they were."""
        self._change(lambda d: d.compose.stop(list(names)))

    def start_services(self, names: Sequence[str]) -> None:
        """`compose start` of stopped containers (not `up`: nothing is recreated)."""
        self._change(lambda d: d.compose.start(list(names)))

    def copy_out(self, container: str, source: str, dest: Path) -> None:
        """A file of a container (by name or id) onto the host (`docker cp`)."""
        self._call(lambda d: d.container.copy((container, source), dest))

    def copy_in(self, source: Path, container: str, dest: str) -> None:
        """A host file into a container (`docker cp`); volumes mounted there receive it."""
        self._call(lambda d: d.container.copy(source, (container, dest)))

    def read_volume(self, image: str, volume: str, command: Sequence[str]) -> str:
        """A command's output from a throwaway container of `image` with `volume` mounted
        read-only at /volume: a look at data no running service shows (no network)."""

        def run(d: Client) -> Any:
            return d.run(
                image,
                list(command),
                entrypoint="",
                volumes=[(volume, "/volume", "ro")],
                networks=["none"],
                remove=True,
            )

        return str(self._call(run) or "")
