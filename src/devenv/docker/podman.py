"""Podman's Docker API where it differs from Docker's: image builds.

Compose builds with BuildKit, which Podman's API does not offer: compose then boots a
`moby/buildkit` container (pulled from Docker Hub, so it fails behind a registry mirror or
offline), and with DOCKER_BUILDKIT=0 it refuses build secrets. Podman's own builder (buildah)
reads the same Dockerfiles, `RUN --mount` cache, secret and bind included, so on Podman devenv
builds the images with `podman build` and compose only starts them. `--format docker` keeps
each image's HEALTHCHECK (the OCI format drops it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.core import proc
from devenv.core.errors import BuildFailedError
from devenv.docker import compose

BUILD_TIMEOUT = 3600  # a cold torch image on a slow link
HINT = "install Podman's CLI: devenv builds the images for a Podman engine with `podman build`"


@dataclass(frozen=True)
class BuildSpec:
    image: str
    services: tuple[str, ...]
    context: Path
    dockerfile: Path
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # id -> file on the host

    def command(self, podman: str) -> list[str]:
        cmd = [podman, "build", "--format", "docker", "-t", self.image, "-f", str(self.dockerfile)]
        for key, value in sorted(self.args.items()):
            cmd += ["--build-arg", f"{key}={value}"]
        if self.target:
            cmd += ["--target", self.target]
        for name, source in sorted(self.secrets.items()):
            cmd += ["--secret", f"id={name},src={source}"]
        return [*cmd, str(self.context)]


def _secret_file(config: dict[str, Any], name: str) -> str | None:
    """A secret's file, or None for the empty stand-in (buildah leaves the mount out, as
    BuildKit leaves it empty: the Dockerfiles test `-s`)."""
    source = (config.get("secrets") or {}).get(name, {}).get("file")
    if not source or source == os.devnull or not Path(source).is_file():
        return None
    return str(source) if Path(source).stat().st_size else None


def specs(config: dict[str, Any], services: Iterable[str]) -> list[BuildSpec]:
    """One build per image tag (bucket-init, trust-init and mlflow share one)."""
    found: dict[str, BuildSpec] = {}
    for name in sorted(services):
        service = config["services"].get(name) or {}
        build, image = service.get("build"), service.get("image")
        if not build or not image:
            continue
        if image in found:
            spec = found[image]
            found[image] = BuildSpec(**{**spec.__dict__, "services": (*spec.services, name)})
            continue
        context = Path(build.get("context", "."))
        secrets = {}
        for entry in build.get("secrets") or []:
            secret = entry.get("source") if isinstance(entry, dict) else str(entry)
            if secret and (source := _secret_file(config, secret)):
                secrets[secret] = source
        args = {k: str(v) for k, v in (build.get("args") or {}).items() if v is not None}
        found[image] = BuildSpec(
            image=image,
            services=(name,),
            context=context,
            dockerfile=context / build.get("dockerfile", "Dockerfile"),
            args=args,
            target=build.get("target"),
            secrets=secrets,
        )
    return list(found.values())


def build(
    config: dict[str, Any],
    services: Iterable[str],
    *,
    exists: Callable[[str], bool],
    force: bool,
    on_build: Callable[[BuildSpec], None],
) -> list[BuildSpec]:
    """`podman build` each image the services need that is missing (all of them with
    `force`); the builds made, in order."""
    todo = [s for s in specs(config, services) if force or not exists(s.image)]
    if not todo:
        return []
    podman = proc.find("podman", hint=HINT)
    for spec in todo:
        on_build(spec)
        proc.run(
            spec.command(podman),
            timeout=BUILD_TIMEOUT,
            check=True,
            what=f"podman build {spec.image}",
            error=BuildFailedError,
            hint=compose.BUILD_HINT,
        )
    return todo
