"""Model-serving API. Serves `models:/MODEL_NAME@MODEL_ALIAS` from the MLflow registry.

This first version proves the service runs and is configured; loading and predicting come with
the training module.
"""

import os

from fastapi import FastAPI

MODEL_NAME = os.environ.get("MODEL_NAME", "model")
MODEL_ALIAS = os.environ.get("MODEL_ALIAS", "champion")
MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://mlflow:5000")

app = FastAPI(title="Model serving", version="0.1.0")


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@app.get("/ready")
def ready() -> dict[str, object]:
    """Readiness: whether a model is loaded (none yet in this version)."""
    return {"ready": False, "model": f"models:/{MODEL_NAME}@{MODEL_ALIAS}", "version": None}


@app.get("/metadata")
def metadata() -> dict[str, str]:
    return {
        "model_uri": f"models:/{MODEL_NAME}@{MODEL_ALIAS}",
        "tracking_uri": MLFLOW_TRACKING_URI,
    }
