"""CLI benchmark: `devenv up` against plain `docker compose up -d --wait` on the same warm stack,
measured side by side in one run, plus the wall time of `devenv --version`, `devenv --help`,
`devenv up --help` and `devenv status`.

    python tests/benchmarks/bench_cli.py [--rounds 5]

Renders a default project with the offline image kit, brings it up once (not timed), then
alternates the commands so both see the same machine state. Prints a table and writes
build/bench/cli.json. Figures, not assertions: see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import render_project  # noqa: E402
from tests.e2e.images import kit  # noqa: E402

DEVENV = str(Path(sys.executable).parent / "devenv")


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    kit.main([])
    overrides = (kit.OVERRIDES).read_text()
    name = f"devenv-bench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        project = render_project(Path(tmp) / "project", overrides, name)
        try:
            timed([DEVENV, "up"], project)  # cold start, not measured
            samples: dict[str, list[float]] = {
                "devenv up (warm)": [],
                "docker compose up -d --wait (warm)": [],
                "devenv --version": [],
                "devenv --help": [],
                "devenv up --help": [],
                "devenv status": [],
            }
            for _ in range(args.rounds):
                samples["devenv up (warm)"].append(timed([DEVENV, "up"], project))
                samples["docker compose up -d --wait (warm)"].append(
                    timed(["docker", "compose", "up", "-d", "--wait"], project)
                )
                samples["devenv --version"].append(timed([DEVENV, "--version"], project))
                samples["devenv --help"].append(timed([DEVENV, "--help"], project))
                samples["devenv up --help"].append(timed([DEVENV, "up", "--help"], project))
                samples["devenv status"].append(timed([DEVENV, "status"], project))
        finally:
            subprocess.run(["docker", "compose", "down", "-v"], cwd=project, capture_output=True)
    rows = {
        k: {
            "median_s": round(statistics.median(v), 3),
            "min_s": round(min(v), 3),
            "max_s": round(max(v), 3),
            "runs": len(v),
        }
        for k, v in samples.items()
    }
    ratio = (
        rows["devenv up (warm)"]["median_s"]
        / rows["docker compose up -d --wait (warm)"]["median_s"]
    )
    print(f"{'command':40} {'median':>8} {'min':>8} {'max':>8}")
    for key, row in rows.items():
        print(f"{key:40} {row['median_s']:8.3f} {row['min_s']:8.3f} {row['max_s']:8.3f}")
    print(f"devenv up / compose up (warm, medians): {ratio:.2f}x")
    out = ROOT / "build" / "bench" / "cli.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "up_ratio": round(ratio, 3)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
