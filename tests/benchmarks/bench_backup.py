"""What `devenv backup` and `devenv restore` cost against doing it by hand: `pg_dump` piped out
of the container plus boto3 copying every object (and back: `pg_restore` plus boto3 uploads),
on the same stack with the same data, measured in one run.

    python tests/benchmarks/bench_backup.py [--runs 200] [--objects 50] [--mb 4]

One project (the offline image kit; Postgres, the object store and MLflow). The data: RUNS
MLflow runs with 20 metric steps each (through MLflow's REST API) and OBJECTS objects of MB
megabytes of random bytes in the bucket. Each restore starts from an emptied stack (`devenv
reset --yes` + `up`). Prints a table and writes build/bench/backup.json. Figures, not
assertions: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from devenv.core.envfile import read_env  # noqa: E402
from tests.e2e.conftest import render_project  # noqa: E402
from tests.e2e.images import kit  # noqa: E402

OUT = ROOT / "build" / "bench" / "backup.json"
DEVENV = str(Path(sys.executable).with_name("devenv"))
SERVICES = ["mlflow"]  # and what it depends on: postgres, the object store


def sh(*args: str, cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    done: subprocess.CompletedProcess[bytes] = subprocess.run(
        list(args),
        cwd=cwd,
        capture_output=True,
        **kwargs,  # type: ignore[call-overload]
    )
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)[:120]} failed:\n{done.stderr.decode(errors='replace')[-2000:]}")
    return done


def seed(env: dict[str, str], runs: int, objects: int, mb: int) -> None:
    api = f"http://127.0.0.1:{env['MLFLOW_PORT']}/api/2.0/mlflow"
    auth = (env["MLFLOW_ADMIN_USER"], env["MLFLOW_ADMIN_PASSWORD"])
    with httpx.Client(auth=auth, timeout=60) as client:
        exp = client.post(f"{api}/experiments/create", json={"name": "bench"}).json()
        for n in range(runs):
            run = client.post(
                f"{api}/runs/create", json={"experiment_id": exp["experiment_id"]}
            ).json()["run"]["info"]["run_id"]
            metrics = [{"key": "loss", "value": 1 / (s + 1), "timestamp": 0, "step": s}
                       for s in range(20)]  # fmt: skip
            client.post(f"{api}/runs/log-batch", json={"run_id": run, "metrics": metrics})
            if n % 50 == 0:
                print(f"  seeded {n + 1}/{runs} runs", file=sys.stderr)
    s3 = store(env)
    for n in range(objects):
        s3.put_object(Bucket=env["MLFLOW_BUCKET"], Key=f"artifacts/bench/{n}.bin",
                      Body=os.urandom(mb << 20))  # fmt: skip


def store(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{env['S3_PORT']}",
        aws_access_key_id=env["S3_ACCESS_KEY"],
        aws_secret_access_key=env["S3_SECRET_KEY"],
        region_name="us-east-1",
    )


def raw_backup(project: Path, env: dict[str, str], folder: Path) -> int:
    command = 'pg_dump -U "$POSTGRES_USER" -d "$MLFLOW_DB_NAME" -Fc'
    dump = sh(
        "docker", "compose", "exec", "-T", "postgres", "sh", "-c", command, cwd=project
    ).stdout
    (folder / "mlflow.dump").write_bytes(dump)
    s3 = store(env)
    size = len(dump)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env["MLFLOW_BUCKET"]):
        for item in page.get("Contents", []):
            local = folder / "objects" / item["Key"]
            local.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(env["MLFLOW_BUCKET"], item["Key"], str(local))
            size += item["Size"]
    return size


def raw_restore(project: Path, env: dict[str, str], folder: Path) -> None:
    sh("docker", "compose", "exec", "-T", "postgres", "sh", "-c",
       'pg_restore -U "$MLFLOW_DB_USER" -d "$MLFLOW_DB_NAME" --no-owner --clean --if-exists',
       cwd=project, input=(folder / "mlflow.dump").read_bytes())  # fmt: skip
    s3 = store(env)
    for local in (folder / "objects").rglob("*"):
        if local.is_file():
            key = local.relative_to(folder / "objects").as_posix()
            s3.upload_file(str(local), env["MLFLOW_BUCKET"], key)


def emptied(project: Path) -> None:
    sh(DEVENV, "reset", "--yes", cwd=project)
    sh(DEVENV, "up", *SERVICES, cwd=project)


def row(ours: float, raw: float, digits: int) -> dict[str, float]:
    return {"devenv": round(ours, digits), "raw": round(raw, digits), "ratio": round(ours / raw, 3)}


def timed(action) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--objects", type=int, default=50)
    parser.add_argument("--mb", type=int, default=4)
    args = parser.parse_args()
    kit.main([])
    name = f"devenv-bench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        project = render_project(Path(tmp) / "project", kit.OVERRIDES.read_text(), name)
        try:
            sh(DEVENV, "up", *SERVICES, cwd=project)
            env = read_env(project / ".env")
            seed(env, args.runs, args.objects, args.mb)
            archive = Path(tmp) / "backup.tar"
            raw = Path(tmp) / "raw"
            raw.mkdir()
            ours_b = timed(lambda: sh(DEVENV, "backup", "-o", str(archive), cwd=project))
            raw_size = 0

            def by_hand() -> None:
                nonlocal raw_size
                raw_size = raw_backup(project, env, raw)

            raw_b = timed(by_hand)
            emptied(project)
            ours_r = timed(lambda: sh(DEVENV, "restore", str(archive), cwd=project))
            emptied(project)
            raw_r = timed(lambda: raw_restore(project, env, raw))
            size = archive.stat().st_size
            rows = {
                "data": f"{args.runs} runs x 20 metric steps, {args.objects} x {args.mb} MB",
                "backup_s": row(ours_b, raw_b, 2),
                "restore_s": row(ours_r, raw_r, 2),
                "size_mb": row(size / 1e6, raw_size / 1e6, 1),
            }
        finally:
            subprocess.run([DEVENV, "reset", "--yes"], cwd=project, capture_output=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"data: {rows['data']}")
    print(f"{'':10} {'devenv':>10} {'by hand':>10} {'ratio':>7}")
    for key in ("backup_s", "restore_s", "size_mb"):
        line = rows[key]
        print(f"{key:10} {line['devenv']:>10} {line['raw']:>10} {line['ratio']:>6}x")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
