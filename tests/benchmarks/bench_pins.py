"""Pin benchmark: what a changed pin rebuilds. A default project's JupyterLab and serving
images, built cold, then rebuilt after `devenv add` changes one group, side by side in one run.

    python tests/benchmarks/bench_pins.py [--keep]

Steps: cold build of both images (no layer cache, BuildKit's pip cache mounts emptied); then
`devenv add tomli-w==1.2.0 --group jupyter` (a package only JupyterLab gets) and a rebuild;
then `devenv add tomli==2.2.1 --group serving` (the serving app's group, which JupyterLab
includes for its tests) and a rebuild. For each rebuild: seconds, and which `RUN` steps ran
and which came from the layer cache (torch's layer must be reused; an image whose lock did not
change must not build at all). Prints a table and writes build/bench/pins.json. Figures, not
assertions: docs/benchmarks.md. Uses the offline image kit's base images (no registry); `devenv
add` asks PyPI.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.bench_images import empty_pip_cache  # noqa: E402
from tests.e2e.conftest import render_project  # noqa: E402
from tests.e2e.images import kit  # noqa: E402

OUT = ROOT / "build" / "bench" / "pins.json"
IMAGES = ("jupyter", "serving")
DEVENV = str(Path(sys.executable).with_name("devenv"))


def log(message: str) -> None:
    print(f"[bench-pins] {message}", file=sys.stderr, flush=True)


def build(project: Path, *extra: str) -> tuple[float, str]:
    cmd = ["docker", "compose", "--progress", "plain", "build", *extra, *IMAGES]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - started, done.stdout + done.stderr


def steps(log_text: str) -> dict[str, dict[str, list[str]]]:
    """Image -> {"ran": [...], "cached": [...]}: the pip steps of each build, by what they do."""
    found: dict[str, dict[str, list[str]]] = {i: {"ran": [], "cached": []} for i in IMAGES}
    # BuildKit prints a step's header line more than once (when it starts, when it resumes).
    named = dict.fromkeys(re.findall(r"^#(\d+) \[(\w+)[^\]]*\] RUN (.*)$", log_text, re.M))
    cached = set(re.findall(r"^#(\d+) CACHED", log_text, re.M))
    for number, image, command in named:
        if image in found and "pip install" in command:
            what = "torch" if "torch==" in command else "locked packages"
            found[image]["cached" if number in cached else "ran"].append(what)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the built images")
    args = parser.parse_args()
    kit.main([])
    name = f"devenv-bench-{uuid.uuid4().hex[:6]}"
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = render_project(Path(tmp) / "project", kit.OVERRIDES.read_text(), name)
        try:
            empty_pip_cache()
            log("cold build of jupyter and serving")
            figures["cold_build_s"], _ = build(project, "--no-cache")
            for pin, group in (("tomli-w==1.2.0", "jupyter"), ("tomli==2.2.1", "serving")):
                started = time.perf_counter()
                added = subprocess.run([DEVENV, "add", pin, "--group", group, "--json"],
                                       cwd=project, capture_output=True, text=True)  # fmt: skip
                if added.returncode != 0:
                    sys.exit(f"devenv add failed: {added.stderr[-2000:]}")
                add_s = time.perf_counter() - started
                log(f"{pin} -> {group}: rebuild")
                seconds, text = build(project)
                figures[f"{group}_pin"] = {
                    "devenv_add_s": round(add_s, 1),
                    "exported": json.loads(added.stdout)["exported"],
                    "rebuild_s": round(seconds, 1),
                    "steps": steps(text),
                }
        finally:
            if not args.keep:
                tags = [f"{name}-{i}:local" for i in IMAGES]
                subprocess.run(["docker", "image", "rm", "--force", *tags], capture_output=True)
    figures["cold_build_s"] = round(float(figures["cold_build_s"]), 1)  # type: ignore[arg-type]
    print(json.dumps(figures, indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    log(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
