"""Compose facts: which version `docker compose` is, whether the plugin is there at all, and
what the docker CLI says when it is not. The engine (devenv.docker.engine) and doctor read
these; no policy of the stack lives here."""

from __future__ import annotations

import re

from devenv.core import proc
from devenv.core.errors import ComposeMissingError, DevenvError
from devenv.core.result import Result, fail, ok

MIN_COMPOSE = (2, 20)
# What the docker CLI says when `compose` is no plugin of it: it reads compose's own flags, or
# the word itself, as unknown.
COMPOSE_MISSING = (
    "unknown command: docker compose",
    "'compose' is not a docker command",
    "unknown flag: --file",
    "unknown flag: --project-directory",
)

# What to check when an image build fails, whoever builds (compose's BuildKit or podman).
BUILD_HINT = (
    "check the *_IMAGE and PIP_INDEX_URL values in .env and registry access "
    "(behind a TLS proxy: EXTRA_CA_CERTS; see docs/corporate-networks.md)"
)


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def check_version(version_text: str | None) -> Result:
    """`version_text` is `docker compose version` output, or None when the plugin is missing."""
    if version_text is None:
        v1 = " (only the old docker-compose v1 was found)" if has_v1() else ""
        return fail(
            "compose",
            f"Docker Compose v2 is not installed as `docker compose`{v1}",
            "install the compose plugin (Docker Desktop ships it; on Linux: the "
            "docker-compose-plugin package), then run `docker compose version`",
            ComposeMissingError,
        )
    version = parse_version(version_text)
    if version is None or version[:2] < MIN_COMPOSE:
        found = ".".join(map(str, version)) if version else version_text.strip()
        return fail(
            "compose",
            f"Docker Compose {found} is too old: devenv needs {'.'.join(map(str, MIN_COMPOSE))}+",
            "update Docker Desktop, or the docker-compose-plugin package",
            ComposeMissingError,
        )
    return ok("compose", version_text.strip())


def has_v1() -> bool:
    if not proc.which("docker-compose"):
        return False
    try:
        out = proc.run(["docker-compose", "version"], timeout=15)
    except DevenvError:
        return False
    version = parse_version(out.stdout)
    return version is not None and version[0] == 1


def missing() -> ComposeMissingError:
    """The error for a missing plugin, in check_version's words (it knows whether v1 is there)."""
    found = check_version(None)
    return ComposeMissingError(found.detail, hint=found.fix)
