"""Client settings for tools on the host (`devenv env`): MLflow, S3, Postgres, Jupyter."""

from __future__ import annotations

import json
import shlex
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from devenv.core import services

if TYPE_CHECKING:
    from devenv.docker.engine import Engine


class EnvFormat(str, Enum):
    """How `devenv env` writes the settings."""

    dotenv = "dotenv"
    shell = "shell"
    json = "json"


SECRET_KEYS = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "JUPYTER_TOKEN"}
)


def client_settings(engine: Engine, *, show_secrets: bool) -> dict[str, str]:
    """Endpoints from the service registry (compose's own resolution of the URL labels), the
    credentials from .env."""
    env, found = engine.env, services.load(engine)
    settings: dict[str, str] = {}
    if mlflow := services.by_probe(found, "mlflow"):
        settings["MLFLOW_TRACKING_URI"] = services.base(mlflow.url or "")
        # The server advertises multipart transfers through presigned URLs that name the
        # object store by its in-network host (objectstore:8333): unreachable from the host,
        # where the client would retry for minutes. Proxied transfers through MLflow work.
        settings["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] = "false"
        settings["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "false"
    if s3 := services.by_probe(found, "s3"):
        settings["AWS_ENDPOINT_URL"] = settings["MLFLOW_S3_ENDPOINT_URL"] = services.base(
            s3.url or ""
        )
        settings["AWS_ACCESS_KEY_ID"] = env.get("S3_ACCESS_KEY", "")
        settings["AWS_SECRET_ACCESS_KEY"] = env.get("S3_SECRET_KEY", "")
    if postgres := services.by_probe(found, "postgres"):
        url = urlsplit(postgres.url or "")
        password = quote(env.get("MLFLOW_DB_PASSWORD", ""), safe="")
        user, _, host = url.netloc.rpartition("@")
        settings["DATABASE_URL"] = urlunsplit(url._replace(netloc=f"{user}:{password}@{host}"))
    if jupyter := services.by_probe(found, "jupyter"):
        settings["JUPYTER_URL"] = jupyter.url or ""
        settings["JUPYTER_TOKEN"] = env.get("JUPYTER_TOKEN", "")
    if serving := services.by_probe(found, "serving"):
        settings["SERVING_URL"] = services.base(serving.url or "")
    if not show_secrets:
        settings = {k: v for k, v in settings.items() if k not in SECRET_KEYS}
    return settings


def render(settings: dict[str, str], fmt: str) -> str:
    if fmt == EnvFormat.json:
        return json.dumps(settings, indent=2, sort_keys=True)
    if fmt == "shell":
        return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in settings.items())
    return "\n".join(f"{k}={v}" for k, v in settings.items())
