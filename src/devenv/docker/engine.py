"""The one door to Docker. python-on-whales is imported here and nowhere else, and this is the
one place its failures (and the OS's) become errors of our hierarchy.

An `Engine` lives for one command: it reads compose's configuration and the project's .env
once and hands out plain records (`Container`, `ExecResult`, `EngineInfo`), never
python-on-whales objects. Unit tests fake this class; the e2e harness drives stacks with it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from devenv.core.errors import (
    DevenvError,
    DockerCommandError,
)
from devenv.docker import compose
from devenv.docker.containers import Containers
from devenv.docker.failures import (
    ENGINE_DOWN,
    bad_docker_host,
    cli_missing,
    engine_unavailable,
    stderr_text,
)
from devenv.docker.images import Images, json_progress
from devenv.docker.records import (
    Container,
    EngineInfo,
    ExecResult,
    parse_container,
)

if TYPE_CHECKING:
    from python_on_whales import DockerClient

    from devenv.core.project import Project


class Engine(Images, Containers):
    """Docker for one project (or for the machine, with no project)."""

    def __init__(self, project: Project | None = None, *, profiles: Sequence[str] = ()) -> None:
        self.project = project
        self.profiles = list(profiles)  # compose profiles to include (e.g. canary)
        self._config: dict[str, Any] | None = None
        self._env: dict[str, str] | None = None
        self._states: dict[str, Container] | None = None

    # ------------------------------------------------------------ the translation

    def _client(self, *, gpu: bool = False, extra: Sequence[Path] = ()) -> DockerClient:
        from python_on_whales import DockerClient

        if self.project is None:
            return DockerClient()
        from devenv.core.project import COMPOSE_FILE, GPU_OVERLAY, USER_OVERRIDE

        root = self.project.root
        files: list[Any] = [root / COMPOSE_FILE]
        # Passing files explicitly turns off compose's own pick-up of the override: add it back.
        if (root / USER_OVERRIDE).is_file():
            files.append(root / USER_OVERRIDE)
        if gpu:
            files.append(root / GPU_OVERLAY)
        files += list(extra)  # devenv's own, for one call (a build's cache sources)
        return DockerClient(
            compose_project_directory=self.project.root,
            compose_files=files,
            compose_profiles=self.profiles,
        )

    @contextmanager
    def errors(self) -> Iterator[None]:
        """python-on-whales' and the OS's failures as our errors: a missing CLI or plugin, an
        engine that does not answer, a malformed DOCKER_HOST, or the command's own failure."""
        from python_on_whales.client_config import ClientNotFoundError
        from python_on_whales.exceptions import DockerException

        try:
            yield
        except (ClientNotFoundError, FileNotFoundError):
            raise cli_missing() from None
        except DockerException as error:
            stderr = stderr_text(error)
            if bad := bad_docker_host(error):
                raise bad from None
            if any(marker in stderr for marker in compose.COMPOSE_MISSING):
                raise compose.missing() from None
            # Some calls stream stderr to the terminal, so the text is not always in the
            # error: when it is not, ask the engine directly.
            if any(m in stderr.lower() for m in ENGINE_DOWN) or not self.responds():
                raise engine_unavailable() from None
            lines = (stderr or str(error)).strip().splitlines()
            raise DockerCommandError(
                lines[-1] if lines else "a docker command failed",
                stderr=stderr,
                return_code=getattr(error, "return_code", None),
            ) from None

    def _call(
        self,
        action: Callable[[DockerClient], Any],
        *,
        gpu: bool = False,
        extra: Sequence[Path] = (),
    ) -> Any:
        with self.errors():
            return action(self._client(gpu=gpu, extra=extra))

    def _change(self, action: Callable[[DockerClient], Any], *, gpu: bool = False) -> Any:
        """A call that changes containers: what was read of them is stale afterwards."""
        try:
            return self._call(action, gpu=gpu)
        finally:
            self._states = None

    # ------------------------------------------------------------ the engine

    def responds(self) -> bool:
        """Whether an engine answers. A missing CLI or a malformed DOCKER_HOST raise."""
        from python_on_whales.client_config import ClientNotFoundError
        from python_on_whales.exceptions import DockerException

        try:
            self._client().system.info()
        except (ClientNotFoundError, FileNotFoundError):
            raise cli_missing() from None
        except DockerException as error:
            if bad := bad_docker_host(error):
                raise bad from None
            text = f"{stderr_text(error)} {error}".lower()
            return not any(marker in text for marker in ENGINE_DOWN)
        return True

    def require(self) -> None:
        """Check the engine first, so compose never prints its own connection error."""
        if not self.responds():
            raise engine_unavailable()

    @cached_property
    def info(self) -> EngineInfo:
        raw = self._call(lambda d: d.system.info())
        return EngineInfo(
            {
                "OperatingSystem": raw.operating_system,
                "Name": raw.name,
                "ServerVersion": raw.server_version,
                "DockerRootDir": raw.docker_root_dir,
                "MemTotal": raw.mem_total,
                "NCPU": raw.n_cpu,
                "KernelVersion": raw.kernel_version,
                "Architecture": raw.architecture,
                "Runtimes": raw.runtimes or {},
                "CDISpecDirs": getattr(raw, "cdi_spec_dirs", None),
            }
        )

    @cached_property
    def compose_version(self) -> str | None:
        """`docker compose version` output; None when the plugin (or the CLI) is missing."""
        try:
            return str(self._call(lambda d: d.compose.version()))
        except (DevenvError, OSError):
            return None

    def containers_everywhere(self) -> list[Container]:
        """Every running container on the engine, any project (who holds a host port)."""
        return [parse_container(c) for c in self._call(lambda d: d.container.list())]

    # ------------------------------------------------------------ the project

    def _project(self) -> Project:
        if self.project is None:  # a programming error, not a user's
            raise RuntimeError("this Engine has no project")
        return self.project

    @property
    def config(self) -> dict[str, Any]:
        """`docker compose config` as JSON, read once per Engine: the project as compose
        resolves it (with .env). `forget()` after changing .env."""
        if self._config is None:
            self._config = self._read_config()
        return self._config

    def _read_config(self) -> dict[str, Any]:
        root = self._project().root
        self.env  # noqa: B018 - a broken .env is reported as ours, before compose reads it
        try:
            return dict(self._call(lambda d: d.compose.config(return_json=True)))
        except DockerCommandError as error:
            from devenv.core.project import USER_OVERRIDE

            read = root / "compose.yaml"
            also = f" (with {USER_OVERRIDE})" if (root / USER_OVERRIDE).is_file() else ""
            raise DevenvError(
                f"docker compose could not read {read}{also}: {error.message}",
                hint=f"check{also and ' ' + USER_OVERRIDE + ' and'} .env against .env.example; "
                "`docker compose config` shows the details",
            ) from None

    @property
    def env(self) -> dict[str, str]:
        """The project's .env, read once per Engine."""
        if self._env is None:
            from devenv.core.envfile import read_env

            self._env = read_env(self._project().root / ".env")
        return self._env

    def forget(self) -> None:
        """.env changed, or time passed: read it, compose's view of it and the containers again."""
        self._config = self._env = None
        self._states = None

    def prefetch(self, *reads: str) -> None:
        """Make these independent reads side by side ("info", "compose_version", "config",
        "states"): each is a docker process of 0.1-0.4 s. Failures are left for the caller's
        own read to raise, in its own order, so errors stay what they would be."""
        from concurrent.futures import ThreadPoolExecutor

        calls: dict[str, Callable[[], Any]] = {
            "info": lambda: self.info,
            "compose_version": lambda: self.compose_version,
            "config": lambda: self.config,
            "states": self.states,
        }
        with ThreadPoolExecutor(max_workers=max(1, len(reads))) as pool:
            for future in [pool.submit(calls[name]) for name in reads]:
                future.exception()  # wait; a failure is raised again by the caller's read

    def containers(self, *, all: bool = True) -> list[Container]:
        """The project's containers (one-shot init containers too, unless all=False)."""
        return [parse_container(c) for c in self._call(lambda d: d.compose.ps(all=all))]

    def states(self) -> dict[str, Container]:
        """Service name -> its container, read once until the stack changes (up, down, ...)
        or `forget()`."""
        if self._states is None:
            self._states = {c.service: c for c in self.containers()}
        return self._states

    def config_hashes(self, names: Sequence[str], *, gpu: bool = False) -> dict[str, str]:
        """compose's configuration hash per service, as it labels the containers it makes: a
        container whose label differs would be recreated by `compose up`."""
        from python_on_whales.utils import run

        def hashes(d: DockerClient) -> str:
            command = [*d.compose.docker_compose_cmd, "config", "--hash", ",".join(names)]
            return str(run(command, capture_stdout=True) or "")

        found: dict[str, str] = {}
        for line in str(self._call(hashes, gpu=gpu)).splitlines():
            name, _, value = line.strip().partition(" ")
            if value:
                found[name] = value.strip()
        return found

    def _inspect(self, d: DockerClient, reference: str) -> Any:
        from python_on_whales.exceptions import NoSuchImage

        try:
            return d.image.inspect(reference)
        except NoSuchImage:
            return None

    def exec(
        self,
        service: str,
        command: Sequence[str],
        *,
        tty: bool = False,
        waiting: str | None = None,
    ) -> ExecResult:
        """Run a command in a running service. A non-zero exit is a result, not an error;
        a missing engine or CLI still raises. With a TTY the output goes to the terminal.
        `waiting`: what a long run is doing, said after a few seconds (devenv.core.notice)."""
        from devenv.core import notice

        def run(d: DockerClient) -> ExecResult:
            with _command_exit() as failed:
                return ExecResult(0, str(d.compose.execute(service, list(command), tty=tty) or ""))
            return failed[0]

        if waiting is None:
            result: ExecResult = self._call(run)
            return result
        with notice.waiting(waiting):
            result = self._call(run)
        return result

    def run_once(
        self,
        service: str,
        command: Sequence[str],
        *,
        mounts: Sequence[tuple[Path, str]] = (),
        workdir: str | None = None,
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        """`compose run --rm --no-deps`: a throwaway container of the service's image, its
        output streamed (stdout to stdout, stderr to stderr); mounts are read-only."""

        def run(d: DockerClient) -> ExecResult:
            with _command_exit() as failed:
                stream = d.compose.run(
                    service, list(command), remove=True, dependencies=False, tty=False,
                    stream=True, workdir=workdir, envs=env or {},
                    volumes=[(str(src), dst, "ro") for src, dst in mounts],
                )  # fmt: skip
                for source, chunk in cast("Iterable[tuple[str, bytes]]", stream):
                    out = sys.stdout if source == "stdout" else sys.stderr
                    out.write(chunk.decode(errors="replace"))
                    out.flush()
                return ExecResult(0, "")
            return failed[0]

        result: ExecResult = self._call(run)
        return result

    def logs(
        self,
        names: Sequence[str] = (),
        *,
        tail: int | None = None,
        follow: bool = False,
        since: str | None = None,
    ) -> Iterator[str]:
        """Log text of the services (all by default), streamed as it comes."""
        stream = self._call(
            lambda d: d.compose.logs(
                list(names),
                tail=str(tail) if tail is not None else None,
                follow=follow,
                since=since,
                stream=True,
            )
        )
        with self.errors():
            for _source, chunk in stream:
                yield chunk.decode(errors="replace")

    def logs_text(self, names: Sequence[str], *, tail: int) -> str:
        return "".join(self.logs(names, tail=tail))

    def up(
        self,
        names: Sequence[str],
        *,
        gpu: bool,
        build: bool | None,
        timeout: int,
        on_line: Callable[[str], None],
    ) -> None:
        """`compose up -d --wait`, its JSON progress lines handed to `on_line` as they come."""

        def start(d: DockerClient) -> None:
            with json_progress():
                stream = d.compose.up(
                    list(names) or None,
                    detach=True,
                    wait=True,
                    wait_timeout=timeout,
                    build=bool(build),
                    no_build=build is False,
                    stream_logs=True,
                )
                for _source, line in stream or []:
                    on_line(line.decode(errors="replace"))

        self._change(start, gpu=gpu)

    def down(self, *, volumes: bool = False, timeout: int | None = None) -> None:
        """Stop and remove the containers; the volumes too only when asked."""
        self._change(
            lambda d: d.compose.down(volumes=volumes, remove_orphans=True, timeout=timeout)
        )

    def restart(self, names: Sequence[str] = ()) -> None:
        self._change(lambda d: d.compose.restart(list(names) or None))

    def kill(self, names: Sequence[str]) -> None:
        self._change(lambda d: d.compose.kill(list(names)))

    def remove(self, names: Sequence[str], *, volumes: bool) -> None:
        """Stop and remove these services' containers (and their anonymous volumes)."""
        self._change(lambda d: d.compose.rm(list(names), stop=True, volumes=volumes))

    def volumes(self, compose_project: str | None = None) -> list[str]:
        """Names of the volumes compose made for a project (this one by default)."""
        label = "com.docker.compose.project"
        wanted = f"{label}={compose_project}" if compose_project else label
        found = self._call(lambda d: d.volume.list(filters=[("label", wanted)]))
        return [str(v.name) for v in found]

    def remove_volumes(self, names: Sequence[str]) -> list[str]:
        """Delete the volumes that exist of these; returns those it deleted."""

        def remove(d: DockerClient) -> list[str]:
            existing: list[Any] = [n for n in names if d.volume.exists(n)]
            if existing:
                d.volume.remove(existing)
            return [str(n) for n in existing]

        removed: list[str] = self._call(remove)
        return removed


@contextmanager
def _command_exit() -> Iterator[list[ExecResult]]:
    """A command's non-zero exit becomes a result (appended); a missing engine or CLI raises."""
    from python_on_whales.exceptions import DockerException

    failed: list[ExecResult] = []
    try:
        yield failed
    except DockerException as error:
        text = stderr_text(error)
        if bad_docker_host(error) or any(m in text for m in compose.COMPOSE_MISSING):
            raise
        if any(m in text.lower() for m in ENGINE_DOWN):
            raise
        failed.append(
            ExecResult(
                int(error.return_code or 1), str(error.stdout or ""), str(error.stderr or "")
            )
        )
