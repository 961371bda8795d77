"""Preflight checks, with real sockets and a fake `docker-compose` on PATH."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from devenv.core.errors import (
    ComposeMissingError,
    PortBusyError,
    ProjectConflictError,
    UsageError,
)
from devenv.core.project import Project
from devenv.docker import compose
from devenv.stack import preflight


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("Docker Compose version v2.40.3", (2, 40, 3)),
        ("2.20.0-desktop.1", (2, 20, 0)),
        ("docker-compose version 1.29.2, build 5becea4c", (1, 29, 2)),
        ("garbage", None),
    ],
)
def test_parse_compose_version(text: str, version: tuple[int, int, int] | None) -> None:
    assert compose.parse_version(text) == version


def test_old_compose_is_refused() -> None:
    with pytest.raises(ComposeMissingError) as info:
        compose.check_version("Docker Compose version v2.17.2").raise_if_failed()
    assert "2.17.2" in info.value.message and "2.20" in info.value.message
    assert compose.check_version("Docker Compose version v2.20.0").ok


def test_only_compose_v1_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shim = tmp_path / "docker-compose"
    shim.write_text("#!/bin/sh\necho 'docker-compose version 1.29.2, build 5becea4c'\n")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ComposeMissingError) as info:
        compose.check_version(None).raise_if_failed()
    assert "v1" in info.value.message and info.value.hint


def test_conflict_markers_and_rej_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    assert preflight.check_conflicts(Project(tmp_path)).ok
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("<<<<<<< data is not project config\n")
    assert preflight.check_conflicts(Project(tmp_path)).ok
    (tmp_path / "compose.yaml.rej").write_text("")
    with pytest.raises(ProjectConflictError) as info:
        preflight.check_conflicts(Project(tmp_path)).raise_if_failed()
    assert "compose.yaml.rej" in info.value.message


def _port_left_in_time_wait() -> int:
    """A port whose server closed its connection first and then went away (as `down` does)."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = int(server.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server side closes first: its end waits in TIME_WAIT
            client.recv(1)
    return port


def test_a_port_with_only_time_wait_connections_is_free() -> None:
    port = _port_left_in_time_wait()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what the old check did: a false "in use"
    assert preflight.port_is_free("127.0.0.1", port)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        assert not preflight.port_is_free("127.0.0.1", port), "a listener still counts"


def test_busy_port_names_the_process_and_the_variable(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (tmp_path / ".env").write_text(f"MLFLOW_PORT={port}\n")
        ports = [preflight.PublishedPort("mlflow", "127.0.0.1", port)]
        with pytest.raises(PortBusyError) as info:
            preflight.check_ports(
                Project(tmp_path), ports, ours=set(), container_holding={}
            ).raise_if_failed()
        assert f"port {port} (mlflow)" in info.value.message
        assert "pid" in info.value.message  # this test process holds it
        assert "MLFLOW_PORT" in (info.value.hint or "")
        # A port our own stack already publishes is fine (a second `up`).
        assert preflight.check_ports(Project(tmp_path), ports, ours={port}, container_holding={}).ok
        with pytest.raises(PortBusyError) as info:
            preflight.check_ports(
                Project(tmp_path), ports, ours=set(), container_holding={port: "other-db"}
            ).raise_if_failed()
        assert "container other-db" in info.value.message


def test_published_ports_only_for_the_services_asked() -> None:
    config = {
        "services": {
            "a": {"ports": [{"published": "80", "host_ip": "127.0.0.1"}]},
            "b": {"ports": [{"published": "81"}]},
            "c": {},
        }
    }
    assert [p.port for p in preflight.published_ports(config)] == [80, 81]
    assert [p.port for p in preflight.published_ports(config, ["b"])] == [81]


def test_extra_ca_must_exist_where_compose_looks(tmp_path: Path) -> None:
    assert preflight.check_extra_ca(tmp_path, {}, {}).status == "ok"
    missing = preflight.check_extra_ca(tmp_path, {"EXTRA_CA_CERTS": "corp.pem"}, {})
    assert missing.status == "fail" and "EXTRA_CA_CERTS=corp.pem does not exist" in missing.detail
    with pytest.raises(UsageError, match="does not exist"):
        missing.raise_if_failed()
    (tmp_path / "corp.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert preflight.check_extra_ca(tmp_path, {"EXTRA_CA_CERTS": "corp.pem"}, {}).status == "ok"
    shell = {"EXTRA_CA_CERTS": "/x"}
    shell_wins = preflight.check_extra_ca(tmp_path, {"EXTRA_CA_CERTS": "corp.pem"}, shell)
    assert shell_wins.status == "fail"


def mlflow_config(host_ip: str | None, auth: str | None) -> dict[str, Any]:
    port: dict[str, Any] = {"published": "5050", "target": 5000}
    if host_ip is not None:
        port["host_ip"] = host_ip
    environment = {"MLFLOW_AUTH": auth} if auth is not None else {}
    spec = {"labels": {"devenv.probe": "mlflow"}, "ports": [port], "environment": environment}
    return {"services": {"tracking": spec}}


@pytest.mark.parametrize(
    ("host_ip", "auth", "refused"),
    [
        ("127.0.0.1", "off", False),
        ("::1", "off", False),
        ("0.0.0.0", "basic", False),
        ("0.0.0.0", None, False),  # the login is on by default
        ("0.0.0.0", "off", True),
        ("192.168.1.20", "OFF", True),
        (None, "off", True),  # compose's "no host IP": every interface
    ],
)
def test_mlflow_without_a_login_only_on_loopback(
    host_ip: str | None, auth: str | None, refused: bool
) -> None:
    result = preflight.check_mlflow_login(mlflow_config(host_ip, auth))
    assert (result.status == "fail") is refused, result
    if refused:
        with pytest.raises(UsageError, match="MLFLOW_AUTH=off"):
            result.raise_if_failed()
        assert "BIND_ADDRESS=127.0.0.1" in (result.fix or "")


def test_a_login_mlflow_would_refuse_is_refused_before_start() -> None:
    config = mlflow_config("127.0.0.1", "ldap")
    unknown = preflight.check_mlflow_login(config)
    assert (
        unknown.status == "fail" and "MLFLOW_AUTH=ldap is not one of basic, off" in unknown.detail
    )
    config["services"]["tracking"]["environment"] = {"MLFLOW_AUTH_ADMIN_PASSWORD": "short"}
    short = preflight.check_mlflow_login(config)
    assert short.status == "fail" and "fewer than 12 characters" in short.detail
    with pytest.raises(UsageError):
        short.raise_if_failed()
    config["services"]["tracking"]["environment"] = {"MLFLOW_AUTH_ADMIN_PASSWORD": "x" * 12}
    assert preflight.check_mlflow_login(config).status == "ok"


def test_no_mlflow_service_no_login_question() -> None:
    assert preflight.check_mlflow_login({"services": {"db": {}}}).status == "ok"
