"""services/mlflow/serve.py, the MLflow server's launcher: the login's settings file as MLflow
reads it, and a wrong MLFLOW_AUTH refused before the server starts. Its use on the real stack:
tests/e2e/test_stack.py."""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

SERVE = Path(__file__).parents[2] / "template" / "services" / "mlflow" / "serve.py"


def serve() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serve", SERVE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_login_settings_read_back_as_mlflow_reads_them(tmp_path: Path) -> None:
    # A password with '%' (percent-encoded in a URI) must survive configparser's interpolation.
    uri = "postgresql+psycopg2://mlflow:p%40ss%25word@postgres:5432/mlflow"
    path = serve().auth_config(uri, str(tmp_path / "auth.ini"))
    assert Path(path).stat().st_mode & 0o077 == 0, "the file holds the database password"
    config = configparser.ConfigParser()  # MLflow's own reader (mlflow.server.auth.config)
    config.read(path)
    assert config["mlflow"]["database_uri"] == uri
    assert config["mlflow"]["default_permission"] == "READ"
    assert config.getint("mlflow", "auth_cache_ttl_seconds") == 60


def test_unknown_mode_and_missing_password_stop_before_mlflow(tmp_path: Path) -> None:
    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(SERVE), "--port=1"],
            env={"PATH": "/nonexistent", **env},
            capture_output=True,
            text=True,
            timeout=30,
        )

    wrong = run(MLFLOW_AUTH="ldap")
    assert wrong.returncode == 1 and "MLFLOW_AUTH='ldap' is not one of basic, off" in wrong.stderr
    empty = run(MLFLOW_AUTH="basic", MLFLOW_AUTH_ADMIN_PASSWORD="")
    assert empty.returncode == 1 and "MLFLOW_AUTH_ADMIN_PASSWORD is empty" in empty.stderr
    short = run(MLFLOW_AUTH_ADMIN_PASSWORD="short", MLFLOW_FLASK_SERVER_SECRET_KEY="k")
    assert short.returncode == 1 and "fewer than 12 characters" in short.stderr
