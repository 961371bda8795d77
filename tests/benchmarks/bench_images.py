"""Image benchmark: each service image of a default project against a naive single-stage
Dockerfile of the same app (tests/benchmarks/naive/), built side by side in one run.

    python tests/benchmarks/bench_images.py [--images mlflow,serving,jupyter] [--keep]

For each image: size and layer count, the cold build time (no layer cache, BuildKit's pip cache
mounts emptied first), and the rebuild time after a one-line edit of the application code. The
template's rebuild must reuse its dependency layer: the script checks the build log for it and
fails if the dependencies were installed again. Prints a table and writes build/bench/images.json
(a list of rows: image, size_mb, naive_size_mb, cold_build_s, code_change_rebuild_s, plus the
naive side's times, layer counts and the cache check). Figures, not assertions: docs/benchmarks.md.
Uses the offline image kit for base images, so it runs with no registry.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import render_project  # noqa: E402
from tests.e2e.images import kit  # noqa: E402

NAIVE = Path(__file__).resolve().parent / "naive"
OUT = ROOT / "build" / "bench" / "images.json"
# The application file a developer edits in each image (the one-line change).
CODE = {
    "mlflow": "create_bucket.py",
    "serving": "app/main.py",
    "jupyter": "jupyter_server_config.py",
}


@dataclass
class Row:
    image: str
    size_mb: float
    naive_size_mb: float
    cold_build_s: float
    code_change_rebuild_s: float
    naive_cold_build_s: float
    naive_code_change_rebuild_s: float
    layers: int
    naive_layers: int
    deps_cached_on_code_change: bool
    # The control: the naive build must show the check failing (its edit reinstalls everything).
    naive_deps_cached_on_code_change: bool


def log(message: str) -> None:
    print(f"[bench-images] {message}", file=sys.stderr, flush=True)


def compose(project: Path, *args: str) -> tuple[float, str]:
    """Run `docker compose` with the bench overlay; (seconds, plain build log)."""
    cmd = ["docker", "compose", "-f", "compose.yaml", "-f", "naive.compose.yaml", *args]
    env = {**os.environ, "BUILDKIT_PROGRESS": "plain"}
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return elapsed, result.stdout + result.stderr


def empty_pip_cache() -> None:
    """Cold means cold: drop BuildKit's cache mounts (pip downloads) before a cold build."""
    subprocess.run(
        ["docker", "builder", "prune", "--force", "--filter", "type=exec.cachemount"],
        capture_output=True,
        check=True,
    )


def inspect(tag: str) -> tuple[float, int]:
    raw = subprocess.run(
        ["docker", "image", "inspect", tag], capture_output=True, text=True, check=True
    ).stdout
    info = json.loads(raw)[0]
    return round(info["Size"] / 1e6, 1), len(info["RootFS"]["Layers"])


def deps_cached(build_log: str) -> bool:
    """True when every `pip install` step of the build was answered from the layer cache."""
    steps = set(re.findall(r"^#(\d+) \[[^\]]*\] RUN .*pip install", build_log, re.M))
    cached = set(re.findall(r"^#(\d+) CACHED", build_log, re.M))
    return bool(steps) and steps <= cached


def edit(path: Path) -> None:
    with path.open("a") as f:
        f.write(f"# bench edit {uuid.uuid4().hex}\n")


def naive_overlay(project: Path, images: list[str]) -> None:
    """Copy each service folder without its .dockerignore, add the naive Dockerfile, and
    declare `naive-<image>` services (profile `bench`) that build them."""
    lines = ["services:"]
    for image in images:
        ctx = project / "naive" / image
        shutil.copytree(project / "services" / image, ctx)
        (ctx / ".dockerignore").unlink(missing_ok=True)
        shutil.copy(NAIVE / image / "Dockerfile", ctx / "Dockerfile")
        lines += [
            f"  naive-{image}:",
            "    profiles: [bench]",
            f"    image: ${{COMPOSE_PROJECT_NAME}}-naive-{image}:local",
            "    build:",
            f"      context: ./naive/{image}",
            "      secrets: [extra_ca]",
            "      args:",
            "        PYTHON_IMAGE: ${PYTHON_IMAGE}",
            "        WHEELHOUSE_IMAGE: ${WHEELHOUSE_IMAGE:-no-wheelhouse}",
            "        TORCH_VERSION: ${TORCH_VERSION:-2.13.0}",
            "        TORCH_INDEX_URL: ${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}",
        ]
    (project / "naive.compose.yaml").write_text("\n".join(lines) + "\n")


def measure(project: Path, name: str, image: str) -> Row:
    sides: dict[str, tuple[float, float, bool]] = {}
    for side, service, folder in (
        ("ours", image, project / "services" / image),
        ("naive", f"naive-{image}", project / "naive" / image),
    ):
        empty_pip_cache()
        log(f"{side} {image}: cold build")
        cold, _ = compose(project, "--profile", "bench", "build", "--no-cache", service)
        edit(folder / CODE[image])
        log(f"{side} {image}: rebuild after a one-line edit of {CODE[image]}")
        rebuild, build_log = compose(project, "--profile", "bench", "build", service)
        sides[side] = (cold, rebuild, deps_cached(build_log))
    size, layers = inspect(f"{name}-{image}:local")
    naive_size, naive_layers = inspect(f"{name}-naive-{image}:local")
    return Row(
        image=image,
        size_mb=size,
        naive_size_mb=naive_size,
        cold_build_s=round(sides["ours"][0], 1),
        code_change_rebuild_s=round(sides["ours"][1], 1),
        naive_cold_build_s=round(sides["naive"][0], 1),
        naive_code_change_rebuild_s=round(sides["naive"][1], 1),
        layers=layers,
        naive_layers=naive_layers,
        deps_cached_on_code_change=sides["ours"][2],
        naive_deps_cached_on_code_change=sides["naive"][2],
    )


def table(rows: list[Row]) -> str:
    head = (
        f"{'image':8} {'size MB':>9} {'naive MB':>9} {'ratio':>6} {'layers':>7} "
        f"{'cold s':>7} {'naive':>7} {'edit s':>7} {'naive':>7}  deps cached"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.image:8} {r.size_mb:9.0f} {r.naive_size_mb:9.0f} "
            f"{r.size_mb / r.naive_size_mb:6.2f} {f'{r.layers}/{r.naive_layers}':>7} "
            f"{r.cold_build_s:7.1f} {r.naive_cold_build_s:7.1f} "
            f"{r.code_change_rebuild_s:7.1f} {r.naive_code_change_rebuild_s:7.1f}  "
            f"{'yes' if r.deps_cached_on_code_change else 'NO'}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=",".join(CODE), help="comma-separated subset")
    parser.add_argument("--keep", action="store_true", help="keep the built images")
    args = parser.parse_args()
    images = [i for i in args.images.split(",") if i]
    unknown = sorted(set(images) - set(CODE))
    if unknown:
        parser.error(f"unknown image(s) {', '.join(unknown)}; choose from {', '.join(CODE)}")
    kit.main([])
    name = f"devenv-bench-{uuid.uuid4().hex[:6]}"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        project = render_project(Path(tmp) / "project", kit.OVERRIDES.read_text(), name)
        naive_overlay(project, images)
        try:
            for image in images:
                rows.append(measure(project, name, image))
                log(f"{image}: {asdict(rows[-1])}")
        finally:
            if not args.keep:
                tags = [f"{name}-{i}:local" for i in images]
                tags += [f"{name}-naive-{i}:local" for i in images]
                subprocess.run(["docker", "image", "rm", "--force", *tags], capture_output=True)
    print(table(rows))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    log(f"wrote {OUT.relative_to(ROOT)}")
    slow = [r.image for r in rows if not r.deps_cached_on_code_change]
    if slow:
        log(f"a code edit reinstalled the dependencies of: {', '.join(slow)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
