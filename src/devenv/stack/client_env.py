"""Client settings for tools on the host (`devenv env`): MLflow, S3, Postgres, Jupyter."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

from devenv.core import services
from devenv.core.envfile import is_secret

if TYPE_CHECKING:
    from devenv.docker.engine import Engine


def client_settings(engine: Engine, *, show_secrets: bool) -> dict[str, str]:
    """What each probe kind of the registry says a host client needs: endpoints from compose's
    own resolution of the URL labels, credentials from .env. Secrets by the one rule
    (devenv.core.envfile.is_secret), left out unless asked for."""
    from devenv.stack.probes import KINDS

    known, settings = services.from_config(engine.config), {}
    for kind in KINDS.values():
        if found := services.by_probe(known, kind.name):
            settings.update(kind.settings(found, engine.env))
    if not show_secrets:
        settings = {k: v for k, v in settings.items() if not is_secret(k)}
    return settings


def as_text(settings: dict[str, str], fmt: str) -> str:
    """dotenv lines, shell export lines, or JSON (`devenv env --format`)."""
    if fmt == "json":
        return json.dumps(settings, indent=2, sort_keys=True)
    if fmt == "shell":
        return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in settings.items())
    return "\n".join(f"{k}={v}" for k, v in settings.items())
