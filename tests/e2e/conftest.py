"""The real-engine harness: render a project, add the offline kit's overrides, run compose.

Every stack gets a unique compose project name and free host ports, and is always taken down
with its volumes, even when a test fails. The `devenv` lifecycle commands will reuse this.
"""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
import pytest

from devenv.core.envfile import read_env
from devenv.core.project import Project
from devenv.docker.engine import Engine
from devenv.stack.preflight import port_is_free
from tests.helpers import plain_template_copy

KIT_DIR = Path(__file__).parent / "images"
PORT_KEYS = (
    "POSTGRES_PORT",
    "S3_PORT",
    "S3_CONSOLE_PORT",
    "MLFLOW_PORT",
    "JUPYTER_PORT",
    "SERVING_PORT",
    "CANARY_PORT",
    "CANARY_ADMIN_PORT",
    "REGISTRY_PORT",
)


_handed_out: set[int] = set()


def _ephemeral_range() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def free_port() -> int:
    """A free port outside the kernel's ephemeral range, never the same one twice.

    While a test stack is down its ports are unbound; a port from the ephemeral range could
    then be taken as the local end of any outgoing connection and make `up` see it busy.
    """
    ephemeral = _ephemeral_range()
    candidates = [p for p in range(20000, 32768) if p not in ephemeral and p not in _handed_out]
    for port in random.sample(candidates, len(candidates)):
        if port_is_free("127.0.0.1", port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port between 20000 and 32767")


@dataclass
class Stack:
    """A test stack, driven through devenv's own Engine (its .env names the compose project)."""

    root: Path
    name: str
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = Engine(Project(self.root))

    @property
    def env(self) -> dict[str, str]:
        return read_env(self.root / ".env")

    def port(self, key: str) -> int:
        return int(self.env[key])

    def up(self, *, build: bool = False, timeout: int = 900) -> None:
        self.engine.up([], gpu=False, build=build or None, timeout=timeout, on_line=lambda _: None)

    def down(self, *, volumes: bool = False) -> None:
        """Everything the test started, the optional profiles' services (canary) included."""
        Engine(Project(self.root), profiles=["*"]).down(volumes=volumes, timeout=10)

    def forget_images(self) -> None:
        """Untag the images this stack built or pushed (`<name>-mlflow:local`,
        `host:port/<name>/serving`): layers other tags share stay, and so do the kit's."""
        listed = subprocess.run(
            ["docker", "image", "ls", "--digests",
             "--format", "{{.Repository}}\t{{.Tag}}\t{{.Digest}}",
             "--filter", f"reference={self.name}-*", "--filter", f"reference=*/{self.name}/*"],
            capture_output=True, text=True,
        )  # fmt: skip
        refs = []
        for line in listed.stdout.splitlines():
            repository, tag, digest = line.split("\t")
            refs.append(f"{repository}:{tag}" if tag != "<none>" else f"{repository}@{digest}")
        if refs:
            subprocess.run(["docker", "image", "rm", *refs], capture_output=True)

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`docker compose` on this stack (by name and folder), output captured."""
        cmd = ["docker", "compose", "-p", self.name, "--project-directory", str(self.root)]
        return subprocess.run([*cmd, *args], capture_output=True, text=True)

    def exec(self, service: str, *command: str) -> str:
        """Run a command in a running service; raise with its output when it fails."""
        result = self.engine.exec(service, command)
        if not result.ok:
            raise AssertionError(f"{service}: {command} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def states(self) -> dict[str, dict[str, Any]]:
        """Service -> {state, health, exit_code} for every container, including one-shots."""
        return {
            c.service: {"state": c.state, "health": c.health, "exit_code": c.exit_code}
            for c in self.engine.containers()
        }

    def logs_tail(self, lines: int = 40) -> str:
        try:
            return self.engine.logs_text([], tail=lines)
        except Exception as error:  # logs are diagnostics only
            return f"(no logs: {error})"


def unique_name() -> str:
    return f"devenv-e2e-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def kit_overrides() -> str:
    """Build (or find) the offline images; the `.env` lines that point a project at them."""
    from tests.e2e.images import kit

    assert kit.main([]) == 0
    return (KIT_DIR / "overrides.env").read_text()


def render_project(
    dest: Path, overrides: str, name: str, answers: dict[str, Any] | None = None
) -> Path:
    src = plain_template_copy(dest.parent / "template-src")
    copier.run_copy(
        str(src),
        dest,
        data=answers or {},
        defaults=True,
        quiet=True,
        unsafe=False,
    )
    env = dest / ".env"
    # What a user does for a mirror or an air-gapped host: append the overrides to .env.
    # Tests run side by side with other stacks: a unique project name and free host ports.
    extra = "".join(f"{key}={free_port()}\n" for key in PORT_KEYS)
    env.write_text(env.read_text() + "\n" + overrides + extra + f"COMPOSE_PROJECT_NAME={name}\n")
    return dest


def new_stack(
    tmp_path_factory: pytest.TempPathFactory, overrides: str, answers: dict[str, Any] | None = None
) -> Stack:
    """A freshly rendered project with the kit's overrides, a unique name and free ports."""
    name = unique_name()
    root = render_project(tmp_path_factory.mktemp("e2e") / "project", overrides, name, answers)
    return Stack(root, name)


@contextmanager
def cleaned_up(stack: Stack) -> Iterator[Stack]:
    """The stack for a fixture to yield: its logs printed if setting it up fails, and always
    taken down with its volumes and its images untagged."""
    try:
        yield stack
    except Exception:
        print(stack.logs_tail())
        raise
    finally:
        stack.down(volumes=True)
        stack.forget_images()


def devenv_cli(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 2400
) -> subprocess.CompletedProcess[str]:
    """`devenv` as a user runs it in a project: its own process, output captured."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("devenv")), *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kit_overrides: str) -> Iterator[Stack]:
    """A default project (SeaweedFS, gpu=none), built and brought up once for the module."""
    with cleaned_up(new_stack(tmp_path_factory, kit_overrides, {"gpu": "none"})) as s:
        s.up(build=True)
        yield s


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory, kit_overrides: str) -> Iterator[Stack]:
    """A project with every default (gpu=auto: the overlay exists, the host has no GPU),
    rendered but not started: the test drives it with the CLI."""
    with cleaned_up(new_stack(tmp_path_factory, kit_overrides)) as s:
        yield s
