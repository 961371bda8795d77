"""Podman's Docker API where it differs from Docker's: image builds.

Compose builds with BuildKit, which Podman's API does not offer: compose then boots a
`moby/buildkit` container (pulled from Docker Hub, so it fails behind a registry mirror or
offline), and with DOCKER_BUILDKIT=0 it refuses build secrets. Podman's own builder (buildah)
reads the same Dockerfiles, `RUN --mount` cache, secret and bind included, so on Podman devenv
builds the images with `podman build` and compose only starts them. `--format docker` keeps
each image's HEALTHCHECK (the OCI format drops it).
"""

from __future__ import annotations

from collections.abc import Iterable

from devenv.core import proc
from devenv.core.errors import BuildFailedError
from devenv.docker import compose
from devenv.docker.builds import BuildSpec, specs

__all__ = ["BuildSpec", "build", "command", "specs"]

BUILD_TIMEOUT = 3600  # a cold torch image on a slow link
HINT = "install Podman's CLI: devenv builds the images for a Podman engine with `podman build`"


def command(spec: BuildSpec, podman: str) -> list[str]:
    cmd = [podman, "build", "--format", "docker", "-t", spec.image, "-f", str(spec.dockerfile)]
    for key, value in sorted(spec.args.items()):
        cmd += ["--build-arg", f"{key}={value}"]
    if spec.target:
        cmd += ["--target", spec.target]
    if spec.platform:
        cmd += ["--platform", spec.platform]
    for name, source in sorted(spec.secrets.items()):
        cmd += ["--secret", f"id={name},src={source}"]
    return [*cmd, str(spec.context)]


def build(todo: Iterable[BuildSpec]) -> None:
    """`podman build` each of these images, in order."""
    podman = proc.find("podman", hint=HINT)
    for spec in todo:
        proc.run(
            command(spec, podman),
            timeout=BUILD_TIMEOUT,
            check=True,
            what=f"podman build {spec.image}",
            error=BuildFailedError,
            hint=compose.BUILD_HINT,
        )
