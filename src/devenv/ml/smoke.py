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

from devenv.clients.mlflow import MlflowClient, login
from devenv.core import http, services
from devenv.core.errors import DevenvError, SmokeFailedError, UsageError
from devenv.core.result import Result, Status
from devenv.docker.engine import Engine
from devenv.stack.status import status, unhealthy

TIMEOUT = 30.0
# The training talks to MLflow (and through it to the object store): bound its retries, so a
# service that stops answering fails the step in about a minute, not after MLflow's defaults.
TRAIN_ENV = [
    "env",
    "MLFLOW_HTTP_REQUEST_TIMEOUT=30",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES=1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1",
]

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
    outcome: Status = "skip" if ok is None else "ok" if ok else "fail"
    return Result(name, outcome, detail, seconds=seconds)


class StepFailed(Exception):
    pass


def _exec(engine: Engine, service: str, command: list[str], doing: str) -> str:
    result = engine.exec(service, command, waiting=doing)
    if not result.ok:
        raise StepFailed(result.last_line(f"{service}: command failed"))
    return result.stdout


def _serving(
    method: str,
    url: str,
    doing: str,
    *,
    timeout: float = TIMEOUT,
    expect: tuple[int, ...] | None = (200,),
    **kwargs: Any,
) -> http.Response:
    """A call to the serving API through the HTTP door: a failure is the smoke test's error."""
    return http.request(
        method,
        url,
        service="the serving API",
        doing=doing,
        timeout=timeout,
        expect=expect,
        error=SmokeFailedError,
        hint="devenv logs serving",
        **kwargs,
    )


def _body(response: http.Response) -> dict[str, Any]:
    data = http.json_body(response, service="the serving API", error=SmokeFailedError)
    return data if isinstance(data, dict) else {"value": data}


def answering(engine: Engine) -> None:
    """Every service answers its probe (seconds, side by side) before the loop starts: a
    stopped or paused service fails the first step, named, instead of hanging it for minutes."""
    if failure := unhealthy(status(engine)):
        raise StepFailed(f"{failure.message}; {failure.hint}")


def run(engine: Engine) -> list[Result]:
    assert engine.project is not None
    answers = engine.project.answers()
    if not (answers.get("include_jupyter") and answers.get("include_serving")):
        raise UsageError(
            "devenv smoke needs JupyterLab (to train) and the serving API in the project",
            hint="add them with: devenv update -d include_jupyter=true -d include_serving=true",
        )
    known = services.from_config(engine.config)
    mlflow_service, serving_service = (
        services.by_probe(known, "mlflow"),
        services.by_probe(known, "serving"),
    )
    if mlflow_service is None or serving_service is None:
        raise UsageError(
            "devenv smoke needs the MLflow and serving services (with devenv.url labels)",
            hint="restore their labels in compose.yaml (devenv update re-applies the template)",
        )
    mlflow = MlflowClient(
        services.base(mlflow_service.url or ""),
        timeout=TIMEOUT,
        error=SmokeFailedError,
        auth=login(engine.env),
    )
    serving = services.base(serving_service.url or "")
    package = str(answers["package_name"])
    found: dict[str, Any] = {}

    def train() -> str:
        answering(engine)  # a stopped or paused service fails here, in seconds
        out = _exec(
            engine,
            "jupyter",
            [*TRAIN_ENV, "python", "-m", f"{package}.train", "--json"],
            "the example model to train in JupyterLab",
        )
        lines = [line for line in out.strip().splitlines() if line.startswith("{")]
        if not lines:
            raise StepFailed(f"the training printed no summary: {out[-200:]}")
        found.update(json.loads(lines[-1]))
        return f"run {found['run_id'][:8]}, accuracy {found['accuracy']:.3f}"

    def tracked() -> str:
        run_info = mlflow.run(found["run_id"])
        metrics = {m["key"]: m["value"] for m in run_info["data"].get("metrics", [])}
        if run_info["info"]["status"] != "FINISHED" or "accuracy" not in metrics:
            raise StepFailed(f"run is {run_info['info']['status']} with metrics {sorted(metrics)}")
        return f"FINISHED, accuracy {metrics['accuracy']:.3f} (MLflow REST)"

    def stored() -> str:
        keys = _exec(
            engine,
            "mlflow",
            ["python", "-c", FIND_MODEL_FILES, str(found["experiment_id"]), str(found["model_id"])],
            "the bucket listing in the MLflow container",
        )
        files = [k for k in keys.splitlines() if k.strip()]
        if not any(k.endswith("MLmodel") for k in files):
            raise StepFailed(f"no MLmodel object for {found['model_id']} in the bucket")
        return f"{len(files)} objects of model {found['model_id'][:12]} in the bucket"

    def registered() -> str:
        version = mlflow.alias_version(found["model_name"], found["alias"])
        if str(version) != str(found["version"]):
            raise StepFailed(f"alias {found['alias']} points at {version}, not {found['version']}")
        return f"models:/{found['model_name']}@{found['alias']} -> version {version}"

    def served() -> str:
        body = _body(
            _serving("POST", f"{serving}/admin/reload", "reload the model", timeout=TIMEOUT * 4)
        )
        if str(body.get("version")) != str(found["version"]):
            raise StepFailed(
                f"serving loaded version {body.get('version')}, not {found['version']}"
            )
        return f"serving reloaded version {body['version']}"

    def predicted() -> str:
        body = _body(
            _serving(
                "POST", f"{serving}/predict", "predict", json={"inputs": found["sample_input"]}
            )
        )
        if [int(p) for p in body["predictions"]] != found["sample_prediction"]:
            raise StepFailed(
                f"served {body['predictions']}, the model gave {found['sample_prediction']} locally"
            )
        return f"/predict {body['predictions']} == local prediction"

    def refused() -> str:
        bad = {"inputs": [{"sepal_length": "not a number"}]}
        response = _serving("POST", f"{serving}/predict", "predict", expect=None, json=bad)
        if not 400 <= response.status_code < 500:
            raise StepFailed(f"a bad payload got HTTP {response.status_code}, expected 4xx")
        return f"bad payload -> HTTP {response.status_code}: {_detail(response)}"[:120]

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
        except (StepFailed, DevenvError, KeyError, ValueError) as error:
            detail, ok, failed = _why(error), False, True
        steps.append(step(name, ok, detail, time.perf_counter() - started))
    return steps


def _detail(response: Any) -> object:
    try:
        body = response.json()
    except ValueError:
        return response.text[:80]
    return body.get("detail") if isinstance(body, dict) else body


def _why(error: Exception) -> str:
    if isinstance(error, DevenvError):
        return error.message
    if isinstance(error, StepFailed):
        return str(error)
    return f"{type(error).__name__}: {error}"


def failure(steps: list[Result]) -> SmokeFailedError | None:
    """The first failed step as the smoke test's one error (exit 18)."""
    failed = next((s for s in steps if s.failed), None)
    if failed is None:
        return None
    return SmokeFailedError(
        f'smoke test failed at "{failed.name}": {failed.detail}',
        hint="devenv status shows which service is unwell; devenv logs SERVICE shows why",
    )
