"""Postgres's data and its major version: a new POSTGRES_IMAGE of another major version must
not start on the old data. Postgres 18's images keep PGDATA under /var/lib/postgresql/<major>/,
so a 19 image would quietly make a new, empty cluster beside the old one (and MLflow would
show nothing); older images refuse the folder. Either way: stop before start, with the path.
"""

from __future__ import annotations

import re
from typing import Any

from devenv.core.errors import DevenvError, UsageError
from devenv.core.result import Result, fail, ok
from devenv.docker.engine import Engine
from devenv.stack.status import MISSING

DATA_ROOT = "/var/lib/postgresql"
# PG_VERSION of either layout (<major>/docker for 18+, data/ before), then the server's own.
LOOK = "cat /volume/*/PG_VERSION /volume/*/*/PG_VERSION 2>/dev/null; postgres --version"
NAME = "postgres data"


def _volume(config: dict[str, Any], service: str) -> str | None:
    spec = config["services"].get(service) or {}
    for mount in spec.get("volumes") or []:
        if mount.get("type") == "volume" and str(mount.get("target", "")).startswith(DATA_ROOT):
            key = mount.get("source")
            return str(((config.get("volumes") or {}).get(key) or {}).get("name") or key)
    return None


def read(text: str) -> tuple[set[int], int | None]:
    """(majors found in the data, the image's major) from LOOK's output."""
    data = {int(line) for line in text.split() if line.isdigit()}
    server = re.search(r"PostgreSQL\)\s+(\d+)", text)
    return data, int(server[1]) if server else None


def check(engine: Engine, service: str = "postgres") -> Result:
    """ok when there is no data yet, or its major version is the image's; fail with the way
    through otherwise. Looked at only when the container would be (re)made."""
    config = engine.config
    spec = config["services"].get(service)
    volume = _volume(config, service) if spec else None
    if not spec or not volume:
        return ok(NAME, "no Postgres data volume in this project")
    image = str(spec.get("image") or "")
    if engine.states().get(service, MISSING).image == image:
        return ok(NAME, "Postgres runs this image already")
    if volume not in engine.volumes() or not engine.image_exists(image):
        return ok(NAME, "no data yet, or the image is not here yet to compare")
    try:
        data, server = read(engine.read_volume(image, volume, ["sh", "-c", LOOK]))
    except DevenvError:
        return ok(NAME, "could not look into the volume (left to Postgres itself)")
    if not data or server is None or server in data:
        return ok(NAME, f"Postgres {server} data" if data else "no data yet")
    old = max(data)
    return fail(
        NAME,
        f"{volume} holds Postgres {old} data; POSTGRES_IMAGE {image} is Postgres {server}, "
        "which would not use it (MLflow would start empty)",
        f"keep POSTGRES_IMAGE at a {old}.x image, or move the data across: set it back, devenv "
        f"backup, devenv reset postgres --yes, set {server}, devenv up, devenv restore FILE "
        "--replace (docs/data-safety.md)",
        error=UsageError,
    )
