"""The template's serving app, imported from template/ and run against a real local MLflow
store (SQLite + local artifacts) holding a real scikit-learn model: no mocks of MLflow."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devenv.scaffold.template import template_root

APP = (
    template_root()
    / "template"
    / "services"
    / "{% if include_serving %}serving{% endif %}"
    / "app"
    / "main.py"
)
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # local artifacts land in tmp_path
    return uri


def register_model(
    name: str = "iris", alias: str = "champion", c: float = 1.0, predict_fn: str = "predict"
) -> dict[str, Any]:
    """Train, log with signature and example, register, set the alias: what train.py does."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = FEATURES
    model = LogisticRegression(C=c, max_iter=300).fit(X, y)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X, model.predict(X)),
            input_example=X.head(2),
            registered_model_name=name,
            pyfunc_predict_fn=predict_fn,
        )
    mlflow.MlflowClient().set_registered_model_alias(name, alias, info.registered_model_version)
    sample = X.head(3)
    return {
        "version": str(info.registered_model_version),
        "inputs": sample.to_dict(orient="records"),
        "expected": [int(p) for p in model.predict(sample)],
    }


def import_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for key, value in {
        "MODEL_NAME": "iris",
        "MODEL_ALIAS": "champion",
        "RELOAD_INTERVAL": "3600",
        **env,
    }.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("serving_app_under_test", APP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def client_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    clients: list[Any] = []

    def make(**env: str) -> Any:
        client = TestClient(import_app(monkeypatch, **env).app)
        client.__enter__()  # runs the lifespan: the model loads at start-up
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
