"""Checks made before `devenv up` touches anything: project files and host ports (the compose
version is a compose fact: devenv.docker.compose).

Each returns a Result: `devenv up` stops on the first that fails (raising its error, before a
container starts), `devenv doctor` shows them all.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core import proc
from devenv.core.envfile import read_env
from devenv.core.errors import DevenvError, PortBusyError, ProjectConflictError, UsageError
from devenv.core.project import Project, conflicted_files, project_files
from devenv.core.result import Result, fail, ok

if TYPE_CHECKING:
    from devenv.docker.engine import Engine

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - compose's meaning of a port with no host IP


def check_conflicts(project: Project) -> Result:
    found = conflicted_files(project.root, project_files(project.root))
    if found:
        return fail(
            "project files",
            f"unresolved update conflicts in: {', '.join(found[:5])}",
            "resolve the <<<<<<< markers (and delete .rej files), commit, then run again",
            ProjectConflictError,
        )
    return ok("project files", "no unresolved update conflicts")


def check_extra_ca(
    root: Path, project_env: dict[str, str], shell: dict[str, str] | None = None
) -> Result:
    """EXTRA_CA_CERTS names a file that exists (compose reads it relative to the project, and
    the shell's value wins over .env's). Missing, compose would fail half-way through `up`."""
    shell = dict(os.environ) if shell is None else shell
    bundle = shell.get("EXTRA_CA_CERTS") or project_env.get("EXTRA_CA_CERTS", "")
    if not bundle:
        return ok("ca bundle", "no extra CA needed")
    if not (root / Path(bundle).expanduser()).is_file():
        return fail(
            "ca bundle",
            f"EXTRA_CA_CERTS={bundle} does not exist",
            "point EXTRA_CA_CERTS in .env at your company's CA PEM file, or leave it empty",
            UsageError,
        )
    return ok("ca bundle", f"image builds and the running services trust {bundle}")


LOOPBACK = ("127.", "::1", "localhost")


def check_mlflow_login(config: dict[str, Any]) -> Result:
    """MLflow without its login is refused on any address but loopback: whoever can register a
    model and move an alias runs code in the serving container (docs/security.md)."""
    for name, spec in (config.get("services") or {}).items():
        if (spec.get("labels") or {}).get("devenv.probe") != "mlflow":
            continue
        environment = spec.get("environment") or {}
        login = str(environment.get("MLFLOW_AUTH") or "basic").strip().lower()
        password = str(environment.get("MLFLOW_AUTH_ADMIN_PASSWORD") or "")
        # What services/mlflow/serve.py refuses, said before start (not as an unhealthy MLflow).
        if login not in ("basic", "off"):
            return fail(
                "mlflow login",
                f"MLFLOW_AUTH={login} is not one of basic, off",
                "set MLFLOW_AUTH=basic in .env (MLflow's login; docs/security.md)",
                UsageError,
            )
        if login == "basic" and password and len(password) < 12:
            return fail(
                "mlflow login",
                "MLFLOW_ADMIN_PASSWORD has fewer than 12 characters: MLflow refuses it",
                "set 12 or more of [A-Za-z0-9_-] in .env (or delete the line: devenv up adds one)",
                UsageError,
            )
        ports = published_ports(config, [name])
        exposed = sorted({p.host_ip for p in ports if not p.host_ip.startswith(LOOPBACK)})
        if login == "off" and exposed:
            return fail(
                "mlflow login",
                f"MLflow has no login (MLFLOW_AUTH=off) but listens on {', '.join(exposed)}: "
                "anyone who reaches it can register a model that serving runs",
                "set MLFLOW_AUTH=basic in .env, or BIND_ADDRESS=127.0.0.1",
                UsageError,
            )
        state = "off, loopback only" if login == "off" else "on"
        return ok("mlflow login", f"MLflow's login is {state}")
    return ok("mlflow login", "no MLflow service")


@dataclass(frozen=True)
class PublishedPort:
    service: str
    host_ip: str
    port: int


def published_ports(
    config: dict[str, Any], services: Iterable[str] | None = None
) -> list[PublishedPort]:
    wanted = set(services) if services else None
    found = []
    for name, spec in (config.get("services") or {}).items():
        if wanted is not None and name not in wanted:
            continue
        for port in spec.get("ports") or []:
            if port.get("published"):
                found.append(
                    PublishedPort(
                        name, port.get("host_ip") or ALL_INTERFACES, int(port["published"])
                    )
                )
    return found


def port_is_free(host_ip: str, port: int) -> bool:
    """Whether a server could listen on the port now, as Docker's port proxy would.

    SO_REUSEADDR, as every server sets it: a port that only has connections in TIME_WAIT
    (left for a minute after the server closed first, e.g. MLflow's gunicorn behind a stack
    that was just taken down) is free; one with a listener still is not. Windows' SO_REUSEADDR
    means something else (it would let us bind over a listener), so it is not set there.
    """
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN.
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def process_holding(port: int) -> str | None:
    """`name (pid N)` of the process listening on `port`, when the OS lets us see it."""
    inodes = _listening_inodes(port)
    if inodes:
        for pid_dir in Path("/proc").glob("[0-9]*"):
            try:
                for fd in (pid_dir / "fd").iterdir():
                    target = str(fd.readlink())
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        name = (pid_dir / "comm").read_text().strip()
                        return f"{name} (pid {pid_dir.name})"
            except OSError:
                continue
    if not proc.which("lsof"):  # macOS and others: lsof, when installed
        return None
    try:
        out = proc.run(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fcp"], timeout=10).stdout
    except DevenvError:
        return None
    pid = next((line[1:] for line in out.splitlines() if line.startswith("p")), None)
    command = next((line[1:] for line in out.splitlines() if line.startswith("c")), None)
    return f"{command} (pid {pid})" if pid and command else None


def env_key_for(project: Project, port: int) -> str | None:
    for key, value in read_env(project.root / ".env").items():
        if key.endswith("_PORT") and value.strip() == str(port):
            return key
    return None


def check_ports(
    project: Project,
    ports: list[PublishedPort],
    *,
    ours: set[int],
    container_holding: dict[int, str],
) -> Result:
    """Every port must be free, unless this project's own containers already publish it."""
    for item in ports:
        if item.port in ours or port_is_free(item.host_ip, item.port):
            continue
        holder = container_holding.get(item.port)
        who = f"container {holder}" if holder else (process_holding(item.port) or "another program")
        key = env_key_for(project, item.port)
        change = f"set another {key} in .env" if key else "change the port in .env"
        return fail(
            "ports",
            f"port {item.port} ({item.service}) is already in use by {who}",
            f"stop it, or {change}, then run devenv up again",
            PortBusyError,
        )
    return ok("ports", "every published port is free (or already ours)")


def check_published_ports(engine: Engine, services: Iterable[str] | None = None) -> Result:
    """check_ports for the project's published ports, knowing which containers hold them."""
    ours = {port for c in engine.containers(all=False) for port in c.host_ports}
    holders = {port: c.name for c in engine.containers_everywhere() for port in c.host_ports}
    assert engine.project is not None
    return check_ports(
        engine.project,
        published_ports(engine.config, services),
        ours=ours,
        container_holding=holders,
    )


def project_volumes(engine: Engine) -> list[str]:
    """Volumes compose made for this project, by the name .env.example gives it (what the
    lost .env would have said); the folder's name is compose's fallback."""
    assert engine.project is not None
    root = engine.project.root
    name = read_env(root / ".env.example").get("COMPOSE_PROJECT_NAME") or root.name
    return engine.volumes(name)


def check_env_opens_data(engine: Engine) -> Result:
    """doctor: the volumes' databases were made with .env's secrets, so a missing, empty or
    unreadable .env next to existing volumes locks the stack out of its own data."""
    from devenv.core import envfile

    assert engine.project is not None
    env_path = engine.project.root / ".env"
    if envfile.holds_settings(env_path):
        return ok("data and .env", ".env is there for the project's volumes")
    volumes = project_volumes(engine)
    if not volumes:
        return ok("data and .env", "no volumes yet: devenv up makes .env with fresh secrets")
    what = "missing" if not env_path.exists() else "empty or unreadable"
    return fail(
        "data and .env",
        f".env is {what}, but {len(volumes)} volume(s) of this project exist: their "
        "databases need the secrets of the lost .env",
        "put back .env (a copy, or `tar -xOf BACKUP env/.env > .env` from a backup made with "
        f"--include-secrets); to start afresh instead: docker volume rm {' '.join(volumes)}",
    )
