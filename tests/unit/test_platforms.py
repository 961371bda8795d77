"""Platform facts and checks, driven by each engine's `docker info` (fixtures/docker_info)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv.stack import platforms

INFO = Path(__file__).parent / "fixtures" / "docker_info"
DEFAULT_STACK = ("postgres", "objectstore", "objectstore-init", "bucket-init", "mlflow")
DEFAULT_STACK += ("jupyter", "serving")


def info(name: str) -> dict[str, object]:
    return json.loads((INFO / f"{name}.json").read_text())


@pytest.mark.parametrize(
    ("fixture", "product"),
    [
        ("docker-desktop-macos-arm64", "Docker Desktop"),
        ("docker-desktop-macos-x86", "Docker Desktop"),
        ("docker-desktop-windows-wsl2", "Docker Desktop"),
        ("rancher-desktop-windows", "Rancher Desktop"),
        ("rancher-desktop-macos", "Rancher Desktop"),
        ("colima-macos-arm64", "colima"),
        ("podman", "Podman"),
    ],
)
def test_each_engine_is_named(fixture: str, product: str) -> None:
    assert platforms.runtime_name(info(fixture)) == product


def test_plain_linux_engine_is_docker_engine() -> None:
    plain = {"OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "Name": "vm"}
    assert platforms.runtime_name({**plain, "DockerRootDir": "/var/lib/docker"}) == "Docker Engine"


@pytest.mark.parametrize(
    ("fixture", "status"),
    [
        ("colima-macos-arm64", "fail"),  # 2 GB: the default stack alone needs ~3.8
        ("docker-desktop-macos-x86", "fail"),
        ("docker-desktop-macos-arm64", "warn"),  # 4 GB: runs, but a torch build is tight
        ("rancher-desktop-macos", "warn"),
        ("rancher-desktop-windows", "ok"),
        ("docker-desktop-windows-wsl2", "ok"),
        ("podman", "ok"),
    ],
)
def test_engine_memory_is_the_engines_own(fixture: str, status: str) -> None:
    memory, _ = platforms.check_engine_resources(info(fixture), DEFAULT_STACK)
    assert memory.status == status, memory.detail
    if status != "ok":
        assert memory.fix and "give the engine at least 6 GB" in memory.fix


def test_memory_fix_names_each_products_setting() -> None:
    fixes = {
        name: platforms.check_engine_resources(info(name), DEFAULT_STACK)[0].fix or ""
        for name in ("colima-macos-arm64", "docker-desktop-macos-arm64", "rancher-desktop-macos")
    }
    assert "colima start --memory 6" in fixes["colima-macos-arm64"]
    assert "Settings > Resources" in fixes["docker-desktop-macos-arm64"]
    assert "Preferences > Virtual Machine" in fixes["rancher-desktop-macos"]


def test_fewer_services_need_less() -> None:
    small = ("postgres", "objectstore", "mlflow", "serving")
    memory, _ = platforms.check_engine_resources(info("colima-macos-arm64"), small)
    assert memory.status == "warn"  # 1.8 GB needed fits in 1.9, not with builds on top


def test_one_cpu_warns() -> None:
    _, cpus = platforms.check_engine_resources({**info("colima-macos-arm64"), "NCPU": 1}, ())
    assert cpus.status == "warn"


@pytest.mark.parametrize(
    ("fixture", "wsl"),
    [
        ("docker-desktop-windows-wsl2", True),
        ("rancher-desktop-windows", True),
        ("docker-desktop-macos-arm64", False),
        ("podman", False),
    ],
)
def test_wsl_from_the_kernel(fixture: str, wsl: bool) -> None:
    kernel = str(info(fixture)["KernelVersion"])
    assert platforms.in_wsl(kernel, env={}) is wsl


def test_wsl_from_the_variable() -> None:
    assert platforms.in_wsl("6.1.0-generic", env={"WSL_DISTRO_NAME": "Ubuntu"})


def test_platform_line_names_arch_engine_and_wsl() -> None:
    found = platforms.Platform("Linux", "x86_64", "Podman", "4.3.1", "amd64", wsl=False)
    assert found.line() == "Linux x86_64 · Podman 4.3.1 · not WSL2"
    emulated = platforms.Platform("Darwin", "arm64", "colima", "27.4.0", "x86_64", wsl=False)
    assert emulated.line() == "Darwin aarch64 · colima 27.4.0 (x86_64) · not WSL2"
    assert platforms.describe(None, wsl=True).line().endswith("· no engine · WSL2")


def test_crlf_in_scripts_and_dockerfiles_fails(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "onboard.sh").write_bytes(b"#!/usr/bin/env bash\r\necho hi\r\n")
    initdb = tmp_path / "services" / "postgres" / "initdb"
    initdb.mkdir(parents=True)
    (initdb / "10-mlflow-db.sh").write_bytes(b"set -e\r\n")
    (tmp_path / "services" / "postgres" / "Dockerfile").write_bytes(b"FROM x\n")
    (tmp_path / "notes.md").write_bytes(b"windows\r\n")  # not a file that breaks
    check = platforms.check_line_endings(tmp_path)
    assert check.status == "fail"
    assert "scripts/onboard.sh, services/postgres/initdb/10-mlflow-db.sh" in check.detail
    assert check.fix and "sed -i" in check.fix
    (tmp_path / "scripts" / "onboard.sh").write_bytes(b"#!/usr/bin/env bash\necho hi\n")
    (initdb / "10-mlflow-db.sh").write_bytes(b"set -e\n")
    assert platforms.check_line_endings(tmp_path).status == "ok"


def test_project_on_a_windows_drive_warns_in_wsl(tmp_path: Path) -> None:
    assert platforms.check_wsl_location(tmp_path, wsl=False) is None
    inside = platforms.check_wsl_location(tmp_path, wsl=True)
    assert inside is not None and inside.status == "ok"
    outside = platforms.check_wsl_location(Path("/mnt/c/Users/ana/project"), wsl=True)
    assert outside is not None and outside.status == "warn"
    assert outside.fix and "under ~" in outside.fix
    not_a_drive = platforms.check_wsl_location(Path("/mnt/data/project"), wsl=True)
    assert not_a_drive is not None and not_a_drive.status == "ok"
