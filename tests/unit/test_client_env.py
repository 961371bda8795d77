from __future__ import annotations

import json
import shlex
from pathlib import Path

from devenv.core.envfile import read_env
from devenv.core.project import Project
from devenv.docker.engine import Engine
from devenv.stack.client_env import as_text, client_settings

ENV = """# comment
MLFLOW_PORT=5050
S3_PORT=8333
POSTGRES_PORT=5432
MLFLOW_DB_USER=mlflow
MLFLOW_DB_PASSWORD=pw-secret
S3_ACCESS_KEY=AKEY
S3_SECRET_KEY=s3-secret
JUPYTER_PORT=8888
JUPYTER_TOKEN=tok-secret
MLFLOW_PORT=6000
MLFLOW_ADMIN_PASSWORD=admin-secret
"""


def project(tmp_path: Path) -> Project:
    """A real project (no serving API) whose .env then says what ENV says: compose resolves
    the service registry's URL labels from it, as it does for a user."""
    from tests.helpers import rendered_project

    root = tmp_path / "p"
    if not root.exists():
        rendered_project(tmp_path, include_serving=False)
        env = root / ".env"
        env.write_text(env.read_text() + ENV)
    return Project(root)


def test_read_env_later_line_wins(tmp_path: Path) -> None:
    env = read_env(project(tmp_path).root / ".env")
    assert env["MLFLOW_PORT"] == "6000" and "# comment" not in env
    assert read_env(tmp_path / "missing") == {}


def test_host_clients_get_proxied_artifact_transfers(tmp_path: Path) -> None:
    settings = client_settings(Engine(project(tmp_path)), show_secrets=False)
    assert settings["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] == "false"
    assert settings["MLFLOW_S3_ENDPOINT_URL"] == "http://localhost:8333"
    assert settings["JUPYTER_URL"] == "http://localhost:8888/lab"


def test_secrets_only_on_request(tmp_path: Path) -> None:
    hidden = client_settings(Engine(project(tmp_path)), show_secrets=False)
    assert hidden["MLFLOW_TRACKING_URI"] == "http://localhost:6000"
    assert "SERVING_URL" not in hidden  # no serving in this project
    text = json.dumps(hidden)
    assert not any(
        s in text for s in ("pw-secret", "s3-secret", "tok-secret", "AKEY", "admin-secret")
    )
    assert hidden["MLFLOW_TRACKING_USERNAME"] == "admin"
    shown = client_settings(Engine(project(tmp_path)), show_secrets=True)
    assert shown["MLFLOW_TRACKING_PASSWORD"] == "admin-secret"
    assert shown["DATABASE_URL"] == "postgresql://mlflow:pw-secret@localhost:5432/mlflow"
    assert shown["JUPYTER_TOKEN"] == "tok-secret"


def test_formats_round_trip() -> None:
    settings = {"A": "x y", "B": "it's"}
    assert json.loads(as_text(settings, "json")) == settings
    lines = as_text(settings, "shell").splitlines()
    assert [shlex.split(line)[1] for line in lines] == ["A=x y", "B=it's"]
    assert as_text(settings, "dotenv") == "A=x y\nB=it's"
