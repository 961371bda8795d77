"""Serving benchmark: our FastAPI app against `mlflow models serve`, same model, same machine,
measured in one run with a bounded load generator on loopback.

    python tests/benchmarks/bench_serving.py [--requests 400] [--threads 4]

Both servers get one worker and the same registered scikit-learn model (a local SQLite MLflow
store). Rounds alternate between the servers so both see the same machine state. Prints a table
and writes build/bench/serving.json. Figures, not assertions: see docs/benchmarks.md.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import free_port  # noqa: E402
from tests.serving.conftest import APP, register_model  # noqa: E402

BIN = Path(sys.executable).parent
DEADLINE_S = 120  # the whole load phase stops by itself after this


def wait_ready(url: str, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"{url} never became ready")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sequential(url: str, body: dict[str, Any], n: int, stop_at: float) -> list[float]:
    latencies = []
    with httpx.Client(timeout=10) as client:
        for _ in range(n):
            if time.monotonic() > stop_at:
                break
            started = time.perf_counter()
            client.post(url, json=body).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def concurrent(url: str, body: dict[str, Any], n: int, threads: int, stop_at: float) -> float:
    def worker(count: int) -> int:
        done = 0
        with httpx.Client(timeout=10) as client:
            for _ in range(count):
                if time.monotonic() > stop_at:
                    break
                client.post(url, json=body).raise_for_status()
                done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        done = sum(pool.map(worker, [n // threads] * threads))
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        model = register_model()
        ours_port, theirs_port = free_port(), free_port()
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # mlflow execs `uvicorn`
            "MODEL_NAME": "iris",
            "MODEL_ALIAS": "champion",
            "RELOAD_INTERVAL": "3600",
        }
        servers = [
            subprocess.Popen(
                [
                    str(BIN / "uvicorn"),
                    "app.main:app",
                    "--app-dir",
                    str(APP.parent.parent),
                    "--port",
                    str(ours_port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    "models:/iris@champion",
                    "--env-manager",
                    "local",
                    "-w",
                    "1",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(theirs_port),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        try:
            wait_ready(f"http://127.0.0.1:{ours_port}/ready")
            wait_ready(f"http://127.0.0.1:{theirs_port}/ping")
            targets = {
                "devenv serving (/predict)": (
                    f"http://127.0.0.1:{ours_port}/predict",
                    {"inputs": model["inputs"][:1]},
                ),
                "mlflow models serve (/invocations)": (
                    f"http://127.0.0.1:{theirs_port}/invocations",
                    {"dataframe_records": model["inputs"][:1]},
                ),
            }
            stop_at = time.monotonic() + DEADLINE_S
            lat: dict[str, list[float]] = {k: [] for k in targets}
            rps: dict[str, list[float]] = {k: [] for k in targets}
            for url, body in targets.values():
                sequential(url, body, 50, stop_at)  # warm-up
            for _ in range(args.rounds):
                for name, (url, body) in targets.items():
                    lat[name] += sequential(url, body, args.requests, stop_at)
                    rps[name].append(concurrent(url, body, args.requests, args.threads, stop_at))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    rows = {
        name: {
            "p50_ms": round(statistics.median(lat[name]), 2),
            "p99_ms": round(percentile(lat[name], 0.99), 2),
            "requests": len(lat[name]),
            "throughput_rps": round(statistics.median(rps[name]), 1),
        }
        for name in targets
    }
    ours, theirs = rows.values()
    ratios = {
        "p50": round(ours["p50_ms"] / theirs["p50_ms"], 2),
        "p99": round(ours["p99_ms"] / theirs["p99_ms"], 2),
        "throughput": round(ours["throughput_rps"] / theirs["throughput_rps"], 2),
    }
    print(f"{'server':38} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}  ({args.threads} threads)")
    for name, row in rows.items():
        print(f"{name:38} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['throughput_rps']:8.1f}")
    print(
        f"ours / mlflow: p50 {ratios['p50']}x, p99 {ratios['p99']}x, "
        f"throughput {ratios['throughput']}x"
    )
    out = ROOT / "build" / "bench" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "ratios": ratios, "threads": args.threads}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
