"""How the docker CLI says that something outside the command failed: no engine, no CLI, a
malformed DOCKER_HOST. Recognised here, once, from the CLI's own words."""

from __future__ import annotations

import os

from devenv.core.errors import EngineUnavailableError, ToolMissingError

# What the docker CLI prints when no engine answers.
ENGINE_DOWN = (
    "cannot connect to the docker daemon",
    "is the docker daemon running",
    "error during connect",
)


def stderr_text(error: BaseException) -> str:
    return str(getattr(error, "stderr", "") or "")


def bad_docker_host(error: BaseException) -> EngineUnavailableError | None:
    """The docker CLI's complaint about a malformed DOCKER_HOST, as one error naming it; None
    for any other failure. The one place that recognises it."""
    if "docker endpoint" not in stderr_text(error):
        return None
    value = os.environ.get("DOCKER_HOST", "")
    return EngineUnavailableError(
        f"DOCKER_HOST={value} is not an engine address docker understands",
        hint="unset DOCKER_HOST, or set it like unix:///var/run/docker.sock or tcp://HOST:2375",
    )


def engine_unavailable() -> EngineUnavailableError:
    return EngineUnavailableError(
        "the Docker engine is not answering",
        hint="start Docker (Docker Desktop, or: sudo systemctl start docker); "
        "check DOCKER_HOST if you set it",
    )


def cli_missing() -> ToolMissingError:
    return ToolMissingError(
        "the docker CLI is not installed (not found on PATH)",
        hint="install Docker Engine or Docker Desktop, then open a new shell",
    )
