"""New-hire onboarding on a real engine: `devenv onboard` in a project prepared with the image
kit (cold, then re-run), and `scripts/onboard.sh` in clean containers, as far as it goes offline."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.conftest import Stack
from tests.helpers import run_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def phases(out: str) -> dict[str, str]:
    return {p["name"]: p["status"] for p in json.loads(out)["results"]}


def test_onboard_then_rerun_skips_what_is_done(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    first = run_cli(capsys, "onboard", "--json", cwd=project_dir.root)
    assert first.code == 0, first.err
    assert phases(first.out) == {
        "doctor": "ok",
        "project": "skip",
        "up": "ok",
        "status": "ok",
        "gpu-check": "ok",
        "smoke": "ok",
    }
    report = json.loads(first.out)
    assert report["urls"]["MLflow"].endswith(str(project_dir.port("MLFLOW_PORT")))
    print(f"onboarding (images cached): {report['seconds']}s", report["results"])

    again = run_cli(capsys, "onboard", "--json", cwd=project_dir.root)
    assert again.code == 0, again.err
    assert phases(again.out) == {
        "doctor": "ok",
        "project": "skip",
        "up": "skip",
        "status": "ok",
        "gpu-check": "ok",
        "smoke": "skip",
    }
    assert json.loads(again.out)["seconds"] < report["seconds"]


@pytest.mark.parametrize(
    ("image_key", "message"),
    [("PYTHON_IMAGE", "onboard: docker not found"), ("BASE", "onboard: python3 not found")],
)
def test_onboard_sh_in_a_clean_container(
    project_dir: Stack, kit_overrides: str, image_key: str, message: str
) -> None:
    """No devenv, no Docker inside: the script stops at the first missing piece, with a hint."""
    images = dict(
        line.split("=", 1)
        for line in kit_overrides.splitlines()
        if "=" in line and not line.startswith("#")
    )
    if image_key == "BASE":  # the bare debootstrap base the kit's Python image is built on
        listed = subprocess.run(
            ["docker", "images", "devenv-kit/debian", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
            check=True,
        )
        # The kit may also hold the arm64 base (tests/e2e/test_arm64.py): take this machine's.
        image = next(tag for tag in listed.stdout.split() if "-arm64-" not in tag)
    else:
        image = images[image_key]
    script = project_dir.root / "scripts" / "onboard.sh"
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{script}:/work/scripts/onboard.sh:ro",
            image,
            "sh",
            "/work/scripts/onboard.sh",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert lines[0] == message and lines[1].startswith("  hint: ")
