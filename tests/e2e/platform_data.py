"""What a team's MLflow holds, made and read through MLflow's own client inside the Jupyter
container: runs with params, metric histories and binary artifacts, a registered model with
versions and aliases. `fingerprint` is the whole of it as comparable JSON (artifacts by
SHA-256), so "nothing lost" is one equality."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Stack

SEED = """
import os, sys, tempfile
import mlflow
from mlflow import MlflowClient
tag = sys.argv[1]
mlflow.set_experiment(f"data-{tag}")
client = MlflowClient()
run_ids = []
for n in range(3):
    with mlflow.start_run(run_name=f"{tag}-{n}") as run:
        mlflow.log_params({"n": n, "tag": tag})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1 + n), step=step)
        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, f"weights-{n}.bin"), "wb") as f:
            f.write(os.urandom(256 * 1024 * (n + 1)))
        mlflow.log_artifacts(folder, "model")
        run_ids.append(run.info.run_id)
name = f"model-{tag}"
client.create_registered_model(name)
for run_id in run_ids[:2]:
    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
client.set_registered_model_alias(name, "champion", "1")
client.set_registered_model_alias(name, "challenger", "2")
print("seeded", tag)
"""

FINGERPRINT = """
import hashlib, json, os, tempfile
from mlflow import MlflowClient
client = MlflowClient()
def files(run_id, path=None):
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            yield from files(run_id, item.path)
        else:
            yield item.path
out = {"runs": {}, "models": {}}
for exp in client.search_experiments():
    for run in client.search_runs([exp.experiment_id]):
        rid = run.info.run_id
        arts = {}
        for path in files(rid):
            local = client.download_artifacts(rid, path, tempfile.mkdtemp())
            arts[path] = hashlib.sha256(open(local, "rb").read()).hexdigest()
        out["runs"][rid] = {
            "experiment": exp.name,
            "name": run.info.run_name,
            "status": run.info.status,
            "params": run.data.params,
            "loss": [(m.step, m.value) for m in client.get_metric_history(rid, "loss")],
            "artifacts": arts,
        }
for model in client.search_registered_models():
    versions = client.search_model_versions(f"name='{model.name}'")
    out["models"][model.name] = {
        "aliases": dict(sorted(model.aliases.items())),
        "versions": sorted((v.version, v.run_id, v.source) for v in versions),
    }
print(json.dumps(out, sort_keys=True))
"""


def seed(stack: Stack, tag: str) -> None:
    stack.exec("jupyter", "python", "-c", SEED, tag)


def fingerprint(stack: Stack) -> dict[str, Any]:
    out = stack.exec("jupyter", "python", "-c", FINGERPRINT)
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found
