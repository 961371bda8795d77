"""Doctor checks, each failure reproduced for real: a dead DOCKER_HOST, a fake `docker` on PATH
reporting old versions and compose v1 only, a busy port, a missing .env key, conflict markers,
and a report bundle that must not leak any .env value."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest

from devenv.core.project import Project
from devenv.core.result import Result
from devenv.stack import doctor, preflight
from tests.helpers import rendered_project, run_cli

OLD_DOCKER = (Path(__file__).parent / "fixtures" / "doctor" / "old-docker.sh").read_text()


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def by_name(checks: list[Result]) -> dict[str, Result]:
    return {c.name: c for c in checks}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(rendered_project(tmp_path))


def test_dead_docker_host(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = run_cli(capsys, "doctor", "--json", cwd=tmp_path)
    assert result.code == 19 and "Traceback" not in result.err
    checks = {c["name"]: c for c in json.loads(result.out)["results"]}
    assert checks["docker engine"]["status"] == "fail" and checks["docker engine"]["fix"]


def test_old_engine_and_compose_v1_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    executable(shims / "docker", OLD_DOCKER)
    executable(shims / "docker-compose", "#!/bin/sh\necho 'docker-compose version 1.29.2'\n")
    monkeypatch.setenv("PATH", f"{shims}:/usr/bin:/bin")
    checks = by_name(doctor.run(None, env={}))
    assert checks["docker engine"].status == "warn" and "19.03.13" in checks["docker engine"].detail
    assert checks["compose"].status == "fail" and "v1" in checks["compose"].detail
    assert checks["engine memory"].status == "warn"  # 4 GB: the default stack fits, builds not
    assert checks["platform"].detail.endswith("Docker Engine 19.03.13 (aarch64) · not WSL2")
    assert "aarch64" in checks["cpu architecture"].detail


def test_proxy_without_no_proxy_for_localhost() -> None:
    check = doctor.check_proxy({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "localhost"})
    assert check.status == "warn" and "127.0.0.1" in check.detail
    # The service names are compose.yaml's business (added to NO_PROXY in every container).
    loopback = "localhost,127.0.0.1"
    assert doctor.check_proxy({"HTTPS_PROXY": "x", "no_proxy": loopback}).status == "ok"
    assert doctor.check_ca(Path.cwd(), {}, {"HTTPS_PROXY": "x"}).status == "warn"
    assert doctor.check_ca(Path.cwd(), {"EXTRA_CA_CERTS": "/nonexistent.pem"}, {}).status == "fail"


def test_missing_env_key_and_placeholders(project: Project) -> None:
    env = project.root / ".env"
    lines = [line for line in env.read_text().splitlines() if not line.startswith("JUPYTER_TOKEN=")]
    env.write_text("\n".join(lines).replace("MLFLOW_BUCKET=mlflow", "MLFLOW_BUCKET=change-me"))
    check = by_name(doctor.check_project_files(project))[".env"]
    assert check.status == "fail"
    assert "missing JUPYTER_TOKEN" in check.detail and "MLFLOW_BUCKET" in check.detail
    env.unlink()
    fresh_clone = by_name(doctor.check_project_files(project))[".env"]
    assert fresh_clone.status == "warn" and "devenv up" in (fresh_clone.fix or "")
    (project.root / ".env.example").unlink()
    assert by_name(doctor.check_project_files(project))[".env"].status == "fail"


def test_only_missing_keys_is_a_warning_and_loose_permissions_are_flagged(project: Project) -> None:
    env = project.root / ".env"
    kept = [line for line in env.read_text().splitlines() if "JUPYTER_TOKEN" not in line]
    env.write_text("\n".join(kept))
    env.chmod(0o644)
    checks = by_name(doctor.check_project_files(project))
    assert checks[".env"].status == "warn" and "JUPYTER_TOKEN" in checks[".env"].detail
    loose = checks[".env permissions"]
    assert loose.status == "warn" and "644" in loose.detail
    env.chmod(0o600)
    assert ".env permissions" not in by_name(doctor.check_project_files(project))


def test_report_redacts_what_compose_resolves(
    project: Project, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Quoted values, inline comments and shell overrides all reach compose's config."""
    env = project.root / ".env"
    text = env.read_text()
    text = text.replace("POSTGRES_PASSWORD=", 'POSTGRES_PASSWORD="quotedSecretValue123"\n#', 1)
    text = text.replace("MLFLOW_DB_PASSWORD=", "MLFLOW_DB_PASSWORD=commentedSecret456 # ours\n#", 1)
    env.write_text(text)
    monkeypatch.setenv("S3_SECRET_KEY", "fromTheShellEnvironment789")
    path = doctor.report(project, [], tmp_path / "r.json")
    report = path.read_text()
    assert "compose_config" in json.loads(report), report[:500]
    for secret in ("quotedSecretValue123", "commentedSecret456", "fromTheShellEnvironment789"):
        assert secret not in report, secret
    assert path.stat().st_mode & 0o777 == 0o600


def test_report_to_a_bad_path_is_one_line(project: Project, tmp_path: Path) -> None:
    from devenv.core.errors import DevenvError

    with pytest.raises(DevenvError, match="cannot write"):
        doctor.report(project, [], tmp_path / "no" / "such" / "dir" / "r.json")


def test_conflict_markers(project: Project) -> None:
    assert by_name(doctor.check_project_files(project))["project files"].status == "ok"
    compose = project.root / "compose.yaml"
    compose.write_text(compose.read_text() + "<<<<<<< before updating\n=======\n>>>>>>> after\n")
    check = by_name(doctor.check_project_files(project))["project files"]
    assert check.status == "fail" and "compose.yaml" in check.detail


def test_busy_port_is_named(project: Project) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = {
            "services": {"mlflow": {"ports": [{"published": str(port), "host_ip": "127.0.0.1"}]}}
        }
        # What doctor shows and `up` stops on: one preflight result for compose's ports.
        check = preflight.check_ports(
            project, preflight.published_ports(config), ours=set(), container_holding={}
        )
    assert check.status == "fail" and f"port {port}" in check.detail and "pid" in check.detail


def test_report_bundle_leaks_no_secret(project: Project, tmp_path: Path) -> None:
    secrets = [
        v
        for k, v in (
            line.split("=", 1)
            for line in (project.root / ".env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        if any(w in k for w in ("PASSWORD", "KEY", "TOKEN"))
    ]
    assert len(secrets) >= 5
    checks = [Result("x", "ok", f"contains {secrets[0]} by accident")]
    path = doctor.report(project, checks, tmp_path / "report.json")
    text = path.read_text()
    assert json.loads(text)["env_keys"]
    for secret in secrets:
        assert secret not in text
    assert "<redacted>" in text
