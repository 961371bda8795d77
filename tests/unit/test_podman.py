"""Builds for a Podman engine: what `podman build` is asked, from compose's own configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devenv.core.errors import BuildFailedError, ToolMissingError
from devenv.docker import podman


def config(tmp_path: Path, ca: str) -> dict[str, Any]:
    build = {
        "context": str(tmp_path / "services" / "mlflow"),
        "args": {"PYTHON_IMAGE": "python:3.12-slim", "HTTP_PROXY": ""},
        "secrets": [{"source": "extra_ca"}],
    }
    return {
        "services": {
            "postgres": {"image": "postgres:18"},
            "bucket-init": {"image": "p-mlflow:local", "build": build},
            "mlflow": {"image": "p-mlflow:local", "build": build},
            "serving": {
                "image": "p-serving:local",
                "build": {"context": str(tmp_path / "s"), "dockerfile": "Dockerfile.prod"},
            },
        },
        "secrets": {"extra_ca": {"file": ca}},
    }


def test_one_build_per_image_with_its_args_and_secret(tmp_path: Path) -> None:
    ca = tmp_path / "corp.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    specs = podman.specs(
        config(tmp_path, str(ca)), ["postgres", "bucket-init", "mlflow", "serving"]
    )
    assert [(s.image, s.services) for s in specs] == [
        ("p-mlflow:local", ("bucket-init", "mlflow")),
        ("p-serving:local", ("serving",)),
    ]
    cmd = podman.command(specs[0], "podman")
    assert cmd[:4] == ["podman", "build", "--format", "docker"]  # HEALTHCHECK kept
    args = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--build-arg"]
    assert args == ["HTTP_PROXY=", "PYTHON_IMAGE=python:3.12-slim"]
    assert f"id=extra_ca,src={ca}" in cmd and cmd[-1].endswith("mlflow")
    assert str(tmp_path / "s" / "Dockerfile.prod") in podman.command(specs[1], "podman")


def test_the_empty_ca_stand_in_is_left_out(tmp_path: Path) -> None:
    (spec,) = podman.specs(config(tmp_path, "/dev/null"), ["mlflow"])
    assert spec.secrets == {} and "--secret" not in podman.command(spec, "podman")


def test_each_image_asked_is_built_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(podman.proc, "find", lambda name, hint: "/usr/bin/podman")
    monkeypatch.setattr(podman.proc, "run", lambda cmd, **_: ran.append(cmd))
    cfg = config(tmp_path, "/dev/null")
    podman.build(podman.specs(cfg, ["bucket-init", "mlflow", "serving"]))
    assert [cmd[cmd.index("-t") + 1] for cmd in ran] == ["p-mlflow:local", "p-serving:local"]


def test_no_podman_cli_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(podman.proc, "which", lambda name: None)
    with pytest.raises(ToolMissingError, match="podman is not installed"):
        podman.build(podman.specs(config(tmp_path, "/dev/null"), ["mlflow"]))


def test_a_failed_build_is_a_build_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = tmp_path / "podman"
    failing.write_text("#!/bin/sh\necho 'Error: no such file: requirements.txt' >&2\nexit 125\n")
    failing.chmod(0o755)
    monkeypatch.setattr(podman.proc, "find", lambda name, hint: str(failing))
    with pytest.raises(BuildFailedError, match=r"requirements\.txt"):
        podman.build(podman.specs(config(tmp_path, "/dev/null"), ["mlflow"]))
