"""services/mlflow/serve.py, the MLflow server's launcher: the login's settings file as MLflow
reads it, and a wrong MLFLOW_AUTH refused before the server starts. Its use on the real stack:
tests/e2e/test_stack.py."""

from __future__ import annotations

import configparser
import importlib.util
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

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
    clash = run(MLFLOW_AUTH="off", MLFLOW_S3_PUBLIC_URL="http://127.0.0.1:1",
                MLFLOW_S3_ENDPOINT_URL="http://objectstore:8333")  # fmt: skip
    assert clash.returncode == 1 and "S3_PORT=1 is MLflow's own port" in clash.stderr


def test_presigned_urls_name_the_host_address_and_the_relay_carries_both_ways() -> None:
    module = serve()
    port, target = module.public_s3("http://127.0.0.1:18333", "http://objectstore:8333")
    assert (port, target) == (18333, ("objectstore", 8333))
    with pytest.raises(SystemExit, match=r"must be http://127\.0\.0\.1:PORT"):
        module.public_s3("http://objectstore:8333", "http://objectstore:8333")

    # An upstream that answers only after the client half-closes (as a PUT's body ends).
    upstream = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = upstream.accept()
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        conn.sendall(b"got " + str(len(received)).encode())
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    module.start_relay(free, upstream.getsockname())
    with socket.create_connection(("127.0.0.1", free), timeout=10) as client:
        client.sendall(b"x" * 300_000)
        client.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
    assert reply == b"got 300000"
    with pytest.raises(OSError):
        module.start_relay(free, upstream.getsockname())  # the port is taken: refused, loudly
