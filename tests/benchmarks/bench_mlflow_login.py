"""What MLflow's login costs in daily use: the same API call (search experiments, through the
database) against MLflow without its login, with it as MLflow ships it (every request hashes
the password), and with it as the template sets it (a checked password cached for 60 s).

    python tests/benchmarks/bench_mlflow_login.py [--calls 200]

One project (the offline image kit, MLflow and its dependencies only); MLflow is restarted per
mode and measured in the same run, so the ratios compare like with like. Prints a table and
writes build/bench/mlflow-login.json. Figures, not assertions: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from devenv.core.envfile import read_env  # noqa: E402
from tests.e2e.conftest import render_project  # noqa: E402
from tests.e2e.images import kit  # noqa: E402

OUT = ROOT / "build" / "bench" / "mlflow-login.json"
DEVENV = str(Path(sys.executable).with_name("devenv"))
MODES = {
    "no login (MLFLOW_AUTH=off)": {"MLFLOW_AUTH": "off"},
    "login, MLflow's defaults (no cache)": {"MLFLOW_AUTH_CACHE_SECONDS": "0"},
    "login, as the template sets it (60 s cache)": {},
}


def measure(url: str, auth: tuple[str, str] | None, calls: int) -> list[float]:
    with httpx.Client(auth=auth, timeout=30) as client:
        for _ in range(10):  # warm both workers and their caches
            client.post(url, json={"max_results": 1}).raise_for_status()
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            client.post(url, json={"max_results": 1}).raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    kit.main([])
    name = f"devenv-bench-{uuid.uuid4().hex[:6]}"
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = render_project(Path(tmp) / "project", kit.OVERRIDES.read_text(), name)
        try:
            subprocess.run([DEVENV, "up", "mlflow"], cwd=project, check=True)
            env = read_env(project / ".env")
            url = f"http://127.0.0.1:{env['MLFLOW_PORT']}/api/2.0/mlflow/experiments/search"
            admin = (env["MLFLOW_ADMIN_USER"], env["MLFLOW_ADMIN_PASSWORD"])
            for mode, overrides in MODES.items():
                subprocess.run(
                    ["docker", "compose", "up", "-d", "--wait", "--no-build", "mlflow"],
                    cwd=project,
                    env={**os.environ, **overrides},
                    check=True,
                    capture_output=True,
                )
                samples = measure(url, None if overrides.get("MLFLOW_AUTH") else admin, args.calls)
                rows[mode] = {
                    "median_ms": round(statistics.median(samples), 1),
                    "p95_ms": round(sorted(samples)[int(len(samples) * 0.95) - 1], 1),
                    "calls": len(samples),
                }
        finally:
            subprocess.run(["docker", "compose", "down", "-v"], cwd=project, capture_output=True)
    base = rows["no login (MLFLOW_AUTH=off)"]["median_ms"]
    print(f"\n{'mode':46} {'median ms':>10} {'p95 ms':>8} {'x no login':>10}")
    for mode, row in rows.items():
        ratio = row["median_ms"] / base
        row["ratio_to_no_login"] = round(ratio, 2)
        print(f"{mode:46} {row['median_ms']:>10} {row['p95_ms']:>8} {ratio:>10.2f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nwritten: {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
