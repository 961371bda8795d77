"""The JupyterLab and serving images install requirements.lock (pip --require-hashes --no-deps):
every package it selects on linux/amd64 and linux/arm64, for each Python the images run, must
have a wheel uv.lock lists for that platform (or be pure Python). Offline: uv.lock names every
file with its tags; the markers are evaluated for the image's own Python, down to the patch
release (Debian bookworm's 3.11.2 in the offline kit, newer in python:3.X-slim)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from devenv.scaffold.template import template_root

TEMPLATE = template_root() / "template"
LOCKS = sorted((TEMPLATE / "services").glob("*/requirements.lock"))
ARCHES = ("x86_64", "aarch64")
GLIBC_MINOR = 36  # Debian bookworm
PYTHONS = ("3.11.2", "3.11.14", "3.12.12", "3.13.9")
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)(?: ; ([^\\]+?))? \\$", re.M)


def locked_files() -> dict[tuple[str, str], list[str]]:
    text = (TEMPLATE / "uv.lock.jinja").read_text()
    text = text.replace("{{ project_slug | regex_replace('[-_.]+', '-') }}", "project")
    files: dict[tuple[str, str], list[str]] = {}
    for package in tomllib.loads(text)["package"]:
        if "version" in package:
            names = [w["url"].rsplit("/", 1)[1] for w in package.get("wheels", [])]
            if "sdist" in package:
                names.append("sdist")
            files[canonicalize_name(package["name"]), package["version"]] = names
    return files


def supported(python: str, arch: str) -> set[Tag]:
    version = tuple(int(n) for n in python.split(".")[:2])
    platforms = [f"manylinux_2_{m}_{arch}" for m in range(GLIBC_MINOR, 16, -1)]
    platforms += [f"manylinux2014_{arch}", f"linux_{arch}"]
    return {*cpython_tags(version, platforms=platforms),
            *compatible_tags(version, platforms=platforms)}  # fmt: skip


def environment(python: str, arch: str) -> dict[str, str]:
    return {
        "python_version": ".".join(python.split(".")[:2]), "python_full_version": python,
        "sys_platform": "linux", "platform_system": "Linux", "platform_machine": arch,
        "os_name": "posix", "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "platform_release": "",
        "platform_version": "", "implementation_version": python, "extra": "",
    }  # fmt: skip


def missing(lock: Path, python: str, arch: str, files: dict[tuple[str, str], list[str]]) -> list[str]:
    tags, env = supported(python, arch), environment(python, arch)
    problems = []
    for name, version, marker in REQUIREMENT.findall(lock.read_text()):
        if marker and not Marker(marker).evaluate(env):
            continue
        names = files.get((canonicalize_name(name), version))
        if names is None:
            problems.append(f"{name}=={version} is not in uv.lock")
            continue
        wheels = [parse_wheel_filename(n)[3] for n in names if n != "sdist"]
        if any(tag in tags for found in wheels for tag in found):
            continue
        pure = "sdist" in names and not wheels
        if not pure:
            problems.append(f"{name}=={version}")
    return problems


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.parent.name.split("%}")[0].split()[-1])
def test_every_locked_package_has_a_wheel_for_the_image(lock: Path, arch: str) -> None:
    files = locked_files()
    problems = {py: found for py in PYTHONS if (found := missing(lock, py, arch, files))}
    assert not problems, f"{lock.parent.name} on linux/{arch}, no wheel: {problems}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    # A binary package whose only wheel is CPython 3.11 on x86_64: arm64 and 3.12 have none.
    files = {("torch", "2.13.0"): ["torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl"]}
    lock = tmp_path / "requirements.lock"
    lock.write_text("torch==2.13.0 \\\n    --hash=sha256:00\n")
    assert missing(lock, "3.11.2", "x86_64", files) == []
    assert missing(lock, "3.11.2", "aarch64", files) == ["torch==2.13.0"]
    assert missing(lock, "3.12.12", "x86_64", files) == ["torch==2.13.0"]
    lock.write_text("torch==2.13.0 ; python_full_version >= '3.12' \\\n    --hash=sha256:00\n")
    assert missing(lock, "3.11.2", "aarch64", files) == [], "not selected: nothing to install"
