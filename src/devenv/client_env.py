"""Client settings for tools on the host (`devenv env`): MLflow, S3, Postgres, Jupyter."""

from __future__ import annotations

import json
import shlex

from devenv.envfile import read_env
from devenv.project import Project

SECRET_KEYS = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "JUPYTER_TOKEN"}
)


def client_settings(project: Project, *, show_secrets: bool) -> dict[str, str]:
    env = read_env(project.root / ".env")
    port = env.get
    user, password = env.get("MLFLOW_DB_USER", "mlflow"), env.get("MLFLOW_DB_PASSWORD", "")
    settings = {
        "MLFLOW_TRACKING_URI": f"http://localhost:{port('MLFLOW_PORT', '5050')}",
        # The server advertises multipart transfers through presigned URLs that name the
        # object store by its in-network host (objectstore:8333): unreachable from the host,
        # where the client would retry for minutes. Proxied transfers through MLflow work.
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false",
        "AWS_ENDPOINT_URL": f"http://localhost:{port('S3_PORT', '8333')}",
        "MLFLOW_S3_ENDPOINT_URL": f"http://localhost:{port('S3_PORT', '8333')}",
        "AWS_ACCESS_KEY_ID": env.get("S3_ACCESS_KEY", ""),
        "AWS_SECRET_ACCESS_KEY": env.get("S3_SECRET_KEY", ""),
        "DATABASE_URL": (
            f"postgresql://{user}:{password}"
            f"@localhost:{port('POSTGRES_PORT', '5432')}/{env.get('MLFLOW_DB_NAME', 'mlflow')}"
        ),
    }
    if "JUPYTER_PORT" in env:
        settings["JUPYTER_URL"] = f"http://localhost:{env['JUPYTER_PORT']}/lab"
        settings["JUPYTER_TOKEN"] = env.get("JUPYTER_TOKEN", "")
    if "SERVING_PORT" in env:
        settings["SERVING_URL"] = f"http://localhost:{env['SERVING_PORT']}"
    if not show_secrets:
        settings = {k: v for k, v in settings.items() if k not in SECRET_KEYS}
    return settings


def render(settings: dict[str, str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(settings, indent=2, sort_keys=True)
    if fmt == "shell":
        return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in settings.items())
    return "\n".join(f"{k}={v}" for k, v in settings.items())
