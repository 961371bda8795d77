"""`devenv smoke`: the golden ML loop on the live stack, each step proven by its own probe.

train (inside JupyterLab) -> the run in MLflow (REST) -> the model's files in the S3 bucket ->
the version registered and the alias set -> serving reloads it -> /predict gives the same
answer the model gave locally -> a bad payload is refused with a 4xx.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from devenv.core import services
from devenv.docker.engine import Engine
from devenv.core.errors import SmokeFailedError, UsageError
from devenv.core.result import Result, Status

TIMEOUT = 30.0

FIND_MODEL_FILES = """
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"], region_name="us-east-1")
bucket, prefix = os.environ["MLFLOW_ARTIFACTS_DESTINATION"][5:].partition("/")[::2]
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
        Prefix=f"{prefix.strip('/')}/{sys.argv[1]}/") for o in page.get("Contents", [])]
print("\\n".join(k for k in keys if sys.argv[2] in k))
"""


def step(name: str, ok: bool | None, detail: str, seconds: float) -> Result:
    """A step of the loop as a result: ok, fail, or skip (an earlier step failed)."""
    status: Status = "skip" if ok is None else "ok" if ok else "fail"
    return Result(name, status, detail, seconds=seconds)


class StepFailed(Exception):
    pass


def _exec(engine: Engine, service: str, command: list[str]) -> str:
    result = engine.exec(service, command)
    if not result.ok:
        raise StepFailed(result.last_line(f"{service}: command failed"))
    return result.stdout


def _json(response: httpx.Response, expect: int = 200) -> dict[str, Any]:
    if response.status_code != expect:
        raise StepFailed(f"HTTP {response.status_code} from {response.url}: {response.text[:200]}")
    data = response.json()
    return data if isinstance(data, dict) else {"value": data}


def run(engine: Engine) -> list[Result]:
    assert engine.project is not None
    answers = engine.project.answers()
    if not (answers.get("include_jupyter") and answers.get("include_serving")):
        raise UsageError(
            "devenv smoke needs JupyterLab (to train) and the serving API in the project",
            hint="add them with: devenv update -d include_jupyter=true -d include_serving=true",
        )
    known = services.load(engine)
    mlflow_service, serving_service = (
        services.by_probe(known, "mlflow"),
        services.by_probe(known, "serving"),
    )
    if mlflow_service is None or serving_service is None:
        raise UsageError(
            "devenv smoke needs the MLflow and serving services (with devenv.url labels)",
            hint="restore their labels in compose.yaml (devenv update re-applies the template)",
        )
    mlflow = services.base(mlflow_service.url or "") + "/api/2.0/mlflow"
    serving = services.base(serving_service.url or "")
    package = str(answers["package_name"])
    found: dict[str, Any] = {}

    def train() -> str:
        out = _exec(engine, "jupyter", ["python", "-m", f"{package}.train", "--json"])
        lines = [line for line in out.strip().splitlines() if line.startswith("{")]
        if not lines:
            raise StepFailed(f"the training printed no summary: {out[-200:]}")
        found.update(json.loads(lines[-1]))
        return f"run {found['run_id'][:8]}, accuracy {found['accuracy']:.3f}"

    def tracked() -> str:
        run_info = _json(
            httpx.get(f"{mlflow}/runs/get", params={"run_id": found["run_id"]}, timeout=TIMEOUT)
        )["run"]
        metrics = {m["key"]: m["value"] for m in run_info["data"].get("metrics", [])}
        if run_info["info"]["status"] != "FINISHED" or "accuracy" not in metrics:
            raise StepFailed(f"run is {run_info['info']['status']} with metrics {sorted(metrics)}")
        return f"FINISHED, accuracy {metrics['accuracy']:.3f} (MLflow REST)"

    def stored() -> str:
        keys = _exec(
            engine,
            "mlflow",
            ["python", "-c", FIND_MODEL_FILES, str(found["experiment_id"]), str(found["model_id"])],
        )
        files = [k for k in keys.splitlines() if k.strip()]
        if not any(k.endswith("MLmodel") for k in files):
            raise StepFailed(f"no MLmodel object for {found['model_id']} in the bucket")
        return f"{len(files)} objects of model {found['model_id'][:12]} in the bucket"

    def registered() -> str:
        mv = _json(
            httpx.get(
                f"{mlflow}/registered-models/alias",
                params={"name": found["model_name"], "alias": found["alias"]},
                timeout=TIMEOUT,
            )
        )["model_version"]
        if str(mv["version"]) != str(found["version"]):
            raise StepFailed(
                f"alias {found['alias']} points at {mv['version']}, not {found['version']}"
            )
        return f"models:/{found['model_name']}@{found['alias']} -> version {mv['version']}"

    def served() -> str:
        body = _json(httpx.post(f"{serving}/admin/reload", timeout=TIMEOUT * 4))
        if str(body.get("version")) != str(found["version"]):
            raise StepFailed(
                f"serving loaded version {body.get('version')}, not {found['version']}"
            )
        return f"serving reloaded version {body['version']}"

    def predicted() -> str:
        body = _json(
            httpx.post(
                f"{serving}/predict", json={"inputs": found["sample_input"]}, timeout=TIMEOUT
            )
        )
        if [int(p) for p in body["predictions"]] != found["sample_prediction"]:
            raise StepFailed(
                f"served {body['predictions']}, the model gave {found['sample_prediction']} locally"
            )
        return f"/predict {body['predictions']} == local prediction"

    def refused() -> str:
        bad = {"inputs": [{"sepal_length": "not a number"}]}
        response = httpx.post(f"{serving}/predict", json=bad, timeout=TIMEOUT)
        if not 400 <= response.status_code < 500:
            raise StepFailed(f"a bad payload got HTTP {response.status_code}, expected 4xx")
        return f"bad payload -> HTTP {response.status_code}: {response.json().get('detail')}"[:120]

    plan: list[tuple[str, Callable[[], str]]] = [
        ("train in JupyterLab", train),
        ("run tracked in MLflow", tracked),
        ("model files in S3", stored),
        ("registered, alias set", registered),
        ("serving reloaded", served),
        ("prediction matches", predicted),
        ("bad input refused", refused),
    ]
    steps: list[Result] = []
    failed = False
    for name, action in plan:
        if failed:
            steps.append(step(name, None, "skipped", 0.0))
            continue
        started = time.perf_counter()
        try:
            detail, ok = action(), True
        except (StepFailed, httpx.HTTPError, KeyError, ValueError) as error:
            detail, ok, failed = (
                f"{type(error).__name__}: {error}"
                if not isinstance(error, StepFailed)
                else str(error),
                False,
                True,
            )
        steps.append(step(name, ok, detail, time.perf_counter() - started))
    return steps


def raise_on_failure(steps: list[Result]) -> None:
    failed = next((s for s in steps if s.failed), None)
    if failed:
        raise SmokeFailedError(
            f'smoke test failed at "{failed.name}": {failed.detail}',
            hint="devenv status shows which service is unwell; devenv logs SERVICE shows why",
        )
