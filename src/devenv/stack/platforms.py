"""Which machine and engine devenv runs on, and what about them breaks a stack.

One line names the platform (`devenv doctor`, `make demo`). The checks catch what each platform
does to a project that works on Linux: CRLF line endings from a Windows checkout, a project on
WSL2's /mnt/<drive> (bind mounts cross into Windows, ~100x slower), and an engine in a VM
(Docker Desktop, colima, Rancher Desktop, a Podman machine) with less memory than the chosen
services need. The engine's own figures come from `docker info`, never from the host.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.core.result import Result

GIB = 1 << 30
# Resident memory each service needs under light use (MB), measured on this project's stack
# (`docker stats` after smoke); a service not listed is small. Builds and training want more:
# the torch install alone peaks near 2 GB, so RECOMMENDED leaves that much on top.
SERVICE_MB = {
    "postgres": 256,
    "objectstore": 256,
    "mlflow": 768,
    "jupyter": 2048,
    "serving": 512,
    "serving-challenger": 512,
    "gateway": 64,
    "registry": 64,
}
OTHER_MB = 32
HEADROOM_MB = 2048
# Files a shell, Postgres' initdb or a Dockerfile parser reads: one CR breaks each of them.
LF_ONLY = (
    "scripts/*.sh",
    "services/*/*.sh",
    "services/*/initdb/*",
    "services/*/Dockerfile*",
    ".env",
    ".env.example",
)
_DRIVE_MOUNT = re.compile(r"^/mnt/[a-zA-Z](/|$)")


def runtime_name(info: dict[str, Any]) -> str:
    """The product behind the Docker API: each says so in a different field."""
    text = " ".join(str(info.get(k, "")) for k in ("OperatingSystem", "Name", "ServerVersion"))
    lowered = text.lower()
    for marker, name in (
        ("docker desktop", "Docker Desktop"),
        ("orbstack", "OrbStack"),
        ("colima", "colima"),
        ("rancher", "Rancher Desktop"),
        ("podman", "Podman"),
    ):
        if marker in lowered:
            return name
    # Podman's compatible API names no product; its storage is what gives it away.
    if "containers/storage" in str(info.get("DockerRootDir", "")):
        return "Podman"
    return "Docker Engine"


def in_wsl(osrelease: str | None = None, env: dict[str, str] | None = None) -> bool:
    """WSL2 (or 1): Microsoft's kernel, or the variable WSL sets in every shell."""
    env = dict(os.environ) if env is None else env
    if env.get("WSL_DISTRO_NAME"):
        return True
    if osrelease is None:
        try:
            osrelease = Path("/proc/sys/kernel/osrelease").read_text()
        except OSError:
            return False
    return "microsoft" in osrelease.lower()


@dataclass(frozen=True)
class Platform:
    system: str  # the host's OS, as Python names it: Linux, Darwin, Windows
    arch: str  # the host's CPU
    engine: str  # the product serving the Docker API, or "no engine"
    engine_version: str | None
    engine_arch: str | None  # a VM's or emulator's may differ from the host's
    wsl: bool

    def line(self) -> str:
        engine = self.engine if not self.engine_version else f"{self.engine} {self.engine_version}"
        if self.engine_arch and _arch(self.engine_arch) != _arch(self.arch):
            engine += f" ({_arch(self.engine_arch)})"
        where = "WSL2" if self.wsl else "not WSL2"
        return f"{self.system} {_arch(self.arch)} · {engine} · {where}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "arch": _arch(self.arch),
            "engine": self.engine,
            "engine_version": self.engine_version,
            "engine_arch": _arch(self.engine_arch) if self.engine_arch else None,
            "wsl": self.wsl,
        }


def _arch(name: str) -> str:
    """One spelling per architecture: Docker says x86_64/aarch64, Podman amd64, macOS arm64."""
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name.lower(), name.lower())


def describe(info: dict[str, Any] | None, *, wsl: bool | None = None) -> Platform:
    return Platform(
        system=platform.system(),
        arch=platform.machine(),
        engine=runtime_name(info) if info else "no engine",
        engine_version=str(info.get("ServerVersion") or "") or None if info else None,
        engine_arch=str(info.get("Architecture") or "") or None if info else None,
        wsl=in_wsl() if wsl is None else wsl,
    )


def memory_needed_mb(services: tuple[str, ...]) -> int:
    return sum(SERVICE_MB.get(name, OTHER_MB) for name in services)


def _memory_fix(engine: str, gb: int) -> str:
    where = {
        "Docker Desktop": "Docker Desktop: Settings > Resources > Memory",
        "colima": f"colima stop && colima start --memory {gb}",
        "Rancher Desktop": "Rancher Desktop: Preferences > Virtual Machine > Memory",
        "Podman": f"podman machine stop && podman machine set --memory {gb * 1024}",
        "OrbStack": "OrbStack: Settings > System > Memory limit",
    }.get(engine, "free memory on this machine, or run fewer services")
    return f"give the engine at least {gb} GB ({where}; on WSL2 also .wslconfig [wsl2] memory=)"


def check_engine_resources(info: dict[str, Any], services: tuple[str, ...]) -> list[Result]:
    """The engine's memory and CPUs (a VM's on Docker Desktop) against the chosen services."""
    engine = runtime_name(info)
    have_mb = int(float(info.get("MemTotal") or 0)) // (1 << 20)
    need_mb = memory_needed_mb(services)
    want_mb = need_mb + HEADROOM_MB
    want_gb = -(-want_mb // 1024)
    figures = (
        f"{have_mb / 1024:.1f} GB for containers in {engine}; the {len(services)} services "
        f"need about {need_mb / 1024:.1f} GB, {want_gb} GB with builds and training"
    )
    if have_mb < need_mb:
        memory = Result("engine memory", "fail", figures, _memory_fix(engine, want_gb))
    elif have_mb < want_mb:
        memory = Result("engine memory", "warn", figures, _memory_fix(engine, want_gb))
    else:
        memory = Result("engine memory", "ok", figures)
    cpus = int(info.get("NCPU") or 0)
    cpu = (
        Result("engine cpus", "ok", f"{cpus} CPUs for containers")
        if cpus >= 2
        else Result(
            "engine cpus",
            "warn",
            f"{cpus} CPU for containers: builds and MLflow's two workers will crawl",
            "give the engine at least 2 CPUs (in its settings, as for memory)",
        )
    )
    return [memory, cpu]


def crlf_files(root: Path) -> list[str]:
    """Files that must be LF but hold a CR LF (a Windows checkout without .gitattributes)."""
    found: set[str] = set()
    for pattern in LF_ONLY:
        for path in root.glob(pattern):
            try:
                if path.is_file() and b"\r\n" in path.read_bytes():
                    found.add(path.relative_to(root).as_posix())
            except OSError:
                continue
    return sorted(found)


def check_line_endings(root: Path) -> Result:
    bad = crlf_files(root)
    if not bad:
        return Result("line endings", "ok", "scripts, Dockerfiles and .env use LF")
    shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
    return Result(
        "line endings",
        "fail",
        f"CRLF line endings in {shown} (bash, initdb and Dockerfiles fail on them)",
        f"convert them: sed -i 's/\\r$//' {' '.join(bad[:4])} ; the project's .gitattributes "
        "keeps later checkouts LF (or: git config core.autocrlf input, then clone again)",
    )


def check_wsl_location(root: Path, *, wsl: bool) -> Result | None:
    """None off WSL. On it, a project under /mnt/<drive> lives on the Windows side."""
    if not wsl:
        return None
    path = root.resolve().as_posix()
    if _DRIVE_MOUNT.match(path):
        return Result(
            "wsl2 location",
            "warn",
            f"{path} is on a Windows drive: bind mounts of notebooks and code are ~100x "
            "slower there, and file watching misses changes",
            "move the project into the WSL filesystem: git clone it under ~ (e.g. ~/src)",
        )
    return Result("wsl2 location", "ok", f"{path} is in the WSL filesystem")
