"""Podman, for real: the default stack (JupyterLab included) built, started, checked and put
through the ML loop on Podman's Docker-compatible API, through the same CLI (`DOCKER_HOST`).

What this machine needs that a user's does not (docs/platforms.md says which is which):
- `default_ulimits` and `runc` in containers.conf: Podman's default rlimits do not fit this
  sandbox (setrlimit fails) and crun cannot use its cgroups. A file of our own (CONTAINERS_CONF).
- A stand-in for systemd's healthcheck timers: Podman schedules healthchecks with systemd, which
  does not run here, so a thread runs `podman healthcheck run` every 2 s, as the timers would.
- The offline kit's base images copied from Docker's store (`docker save | podman load`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, devenv_cli, new_stack

pytestmark = [pytest.mark.docker, pytest.mark.slow]
KIT_IMAGES = ("PYTHON_IMAGE", "POSTGRES_IMAGE", "OBJECT_STORE_IMAGE", "WHEELHOUSE_IMAGE")
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""


def podman(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


def tick_healthchecks(stop: threading.Event) -> None:
    """What Podman's systemd timers do: run each container's healthcheck, again and again."""
    while not stop.wait(2):
        listed = podman("ps", "-q", "--filter", "status=running", timeout=30)
        for container in listed.stdout.split():
            podman("healthcheck", "run", container, timeout=30)


@pytest.fixture(scope="module")
def podman_host(tmp_path_factory: pytest.TempPathFactory, kit_overrides: str) -> Iterator[str]:
    """`podman system service` on a socket of its own; the kit's images loaded into it."""
    if shutil.which("podman") is None:
        if os.environ.get("CI"):
            pytest.fail("podman is not installed (.ci/run installs it)", pytrace=False)
        pytest.skip("podman is not installed (apt-get install podman)")
    home = tmp_path_factory.mktemp("podman")
    conf = home / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    old_conf = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)  # the service, and `podman build` run by devenv
    socket = home / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        stdout=subprocess.DEVNULL,
        stderr=(home / "service.log").open("w"),
    )
    stop = threading.Event()
    ticker = threading.Thread(target=tick_healthchecks, args=(stop,), daemon=True)
    try:
        for _ in range(100):
            if socket.exists():
                break
            time.sleep(0.1)
        assert socket.exists(), (home / "service.log").read_text()
        for line in kit_overrides.splitlines():
            key, _, image = line.partition("=")
            if key in KIT_IMAGES and podman("image", "exists", image).returncode != 0:
                saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
                subprocess.run(["podman", "load", "-q"], stdin=saved.stdout, check=True)
                assert saved.wait() == 0, f"docker save {image}"
        ticker.start()
        yield f"unix://{socket}"
    finally:
        stop.set()
        service.terminate()
        service.wait(timeout=30)
        if old_conf is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = old_conf


def devenv(root: Path, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return devenv_cli(root, *args, env={**os.environ, "DOCKER_HOST": host})


@pytest.fixture(scope="module")
def podman_stack(
    tmp_path_factory: pytest.TempPathFactory, kit_overrides: str, podman_host: str
) -> Iterator[Stack]:
    stack = new_stack(tmp_path_factory, kit_overrides, {"gpu": "none"})
    root, name = stack.root, stack.name
    try:
        yield stack
    finally:
        devenv(root, podman_host, "down")
        env = {**os.environ, "DOCKER_HOST": podman_host}
        subprocess.run(
            ["docker", "compose", "-p", name, "--project-directory", str(root), "down", "-v"],
            capture_output=True,
            env=env,
        )
        listed = podman("images", "-q", "--filter", f"reference=*{name}-*")
        if listed.stdout.split():
            podman("rmi", "-f", *listed.stdout.split())


def test_stack_up_status_and_smoke_on_podman(podman_stack: Stack, podman_host: str) -> None:
    root = podman_stack.root
    platform = devenv(root, podman_host, "doctor", "--platform")
    assert platform.returncode == 0 and "· Podman " in platform.stdout, platform.stdout

    started = time.monotonic()
    up = devenv(root, podman_host, "up")
    took = time.monotonic() - started
    assert up.returncode == 0, up.stderr[-3000:]
    assert "podman build" in up.stderr or "Building" in up.stderr
    print(f"\nPodman: images built with podman build and the stack up in {took:.0f} s")
    for image in ("mlflow", "jupyter", "serving"):
        assert podman("image", "exists", f"{podman_stack.name}-{image}:local").returncode == 0

    status = devenv(root, podman_host, "status", "--json")
    assert status.returncode == 0, status.stdout[-2000:] + status.stderr[-2000:]
    started = time.monotonic()
    smoke = devenv(root, podman_host, "smoke")
    assert smoke.returncode == 0, smoke.stdout[-2000:] + smoke.stderr[-2000:]
    print(f"Podman: smoke (train, track, register, serve) in {time.monotonic() - started:.0f} s")

    again = devenv(root, podman_host, "up")
    assert again.returncode == 0 and "nothing started" in again.stderr, again.stderr[-2000:]
