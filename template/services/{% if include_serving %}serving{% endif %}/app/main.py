"""Model-serving API for `models:/MODEL_NAME@MODEL_ALIAS` from the MLflow registry.

The model is loaded at start-up, again on POST /admin/reload, and whenever the alias moves to
another version (checked every RELOAD_INTERVAL seconds). Inputs are checked against the model's
signature: a bad payload gets a 422 that says what is wrong, never a 500.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

MODEL_NAME = os.environ.get("MODEL_NAME", "model")
MODEL_ALIAS = os.environ.get("MODEL_ALIAS", "champion")
RELOAD_INTERVAL = float(os.environ.get("RELOAD_INTERVAL", "30"))
NUMERIC = {"double", "float", "long", "integer"}
INLINE_ROWS = 256  # up to this many rows on the fast path, /predict answers on the event loop
# The fast path below hands scikit-learn a matrix in the exact column order it was fitted with,
# after this API checked every name against the signature; its "no feature names" warning
# would fire on every request and say nothing new.
warnings.filterwarnings(
    "ignore", message="X does not have valid feature names", category=UserWarning
)


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: easy to grep, easy to ship."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry)


handler = logging.StreamHandler()
handler.setFormatter(JsonFormatter())
log = logging.getLogger("serving")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.propagate = False


@dataclass(frozen=True)
class Native:
    """A scikit-learn model's own predict function and its fitted column order.

    Called on a float matrix after this API's signature check, it skips pyfunc's per-call
    schema enforcement and scikit-learn's DataFrame checks: most of a one-row request.
    """

    predict: Callable[[Any], Any]
    order: list[str]


@dataclass
class Loaded:
    model: Any = None
    version: str | None = None
    run_id: str | None = None
    source: str | None = None  # where the registry says the version's files are
    loaded_at: float | None = None
    error: str | None = "not loaded yet"
    # Read once per load, not per request: the signature's columns, and the fast path.
    columns: list[dict[str, Any]] = field(default_factory=list)
    native: Native | None = None


def native_path(model: Any, columns: list[dict[str, Any]]) -> Native | None:
    """The fast path when the model is scikit-learn with an all-numeric, named signature."""
    flavors = model.metadata.flavors or {}
    names = [str(c.get("name") or "") for c in columns]
    if (
        "sklearn" not in flavors
        or not columns
        or not all(names)
        or any(c.get("type") not in NUMERIC for c in columns)
    ):
        return None
    try:
        raw = model.get_raw_model()
    except Exception:  # an older MLflow or another wrapper: pyfunc's path still works
        return None
    # The function pyfunc would call (log_model's pyfunc_predict_fn, e.g. predict_proba).
    predict = getattr(raw, flavors.get("python_function", {}).get("predict_fn", "predict"), None)
    fitted = [str(n) for n in getattr(raw, "feature_names_in_", names)]
    if predict is None or sorted(fitted) != sorted(names):
        return None
    return Native(predict=predict, order=fitted)


state = Loaded()
lock = threading.Lock()


def current_version() -> tuple[str, str | None, str | None]:
    """The version the alias names in the registry: serving loads nothing else (docs/security.md:
    whoever can move the alias decides what code runs here)."""
    from mlflow import MlflowClient

    mv = MlflowClient().get_model_version_by_alias(MODEL_NAME, MODEL_ALIAS)
    return str(mv.version), mv.run_id, mv.source


def load(force: bool = False) -> bool:
    """Load the alias's version if it moved (or when forced). True when a model is loaded."""
    import mlflow

    try:
        version, run_id, source = current_version()
    except Exception as error:  # no such model or alias yet, or MLflow unreachable
        with lock:
            if state.model is None:
                state.error = (
                    f"no model at models:/{MODEL_NAME}@{MODEL_ALIAS} "
                    f"({type(error).__name__}); train and register one first"
                )
        return state.model is not None
    if not force and version == state.version:
        return True
    try:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}")
    except Exception as error:  # keep serving what is loaded; say why the new one is not
        with lock:
            state.error = f"loading version {version} failed: {type(error).__name__}: {error}"
        log.error("model load failed", extra={"fields": {"version": version, "error": str(error)}})
        return False
    schema = model.metadata.get_input_schema()
    columns = schema.to_dict() if schema is not None else []
    native = native_path(model, columns)
    with lock:
        state.model, state.version, state.run_id, state.source = model, version, run_id, source
        state.columns, state.native = columns, native
        state.loaded_at, state.error = time.time(), None
    log.info(
        "model loaded",
        extra={
            "fields": {
                "model": MODEL_NAME,
                "alias": MODEL_ALIAS,
                "version": version,
                "run_id": run_id,
                "source": source,
            }
        },
    )
    return True


def watch_alias(stop: threading.Event) -> None:
    while not stop.wait(RELOAD_INTERVAL):
        try:
            load()
        except Exception as error:  # keep serving the loaded model
            log.warning("reload failed", extra={"fields": {"error": str(error)}})


@asynccontextmanager
async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
    try:
        load(force=True)
    except Exception as error:
        state.error = f"loading failed: {error}"
    stop = threading.Event()
    threading.Thread(target=watch_alias, args=(stop,), daemon=True).start()
    yield
    stop.set()


app = FastAPI(
    title="Model serving",
    version="1.0.0",
    description=f"Serves models:/{MODEL_NAME}@{MODEL_ALIAS} from the MLflow registry.",
    lifespan=lifespan,
)


class PredictRequest(BaseModel):
    inputs: list[dict[str, Any]] = Field(
        ..., min_length=1, description="Rows as objects, one key per input column"
    )


def schema_columns() -> list[dict[str, Any]]:
    return state.columns


def check_inputs(rows: list[dict[str, Any]], columns: list[dict[str, Any]]) -> None:
    """Say exactly what is wrong with a payload, before the model sees it."""
    if not columns:
        return
    names = {c["name"] for c in columns if "name" in c}
    for i, row in enumerate(rows):
        missing = sorted(n for n in names if n not in row)
        unknown = sorted(set(row) - names)
        if missing or unknown:
            raise HTTPException(
                422,
                f"row {i}: missing {missing or 'nothing'}, "
                f"unknown {unknown or 'nothing'}; expected {sorted(names)}",
            )
        for column in columns:
            value = row[column["name"]]
            if column.get("type") in NUMERIC and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise HTTPException(
                    422, f"row {i}: {column['name']} must be a number, got {value!r}"
                )


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@app.get("/ready")
def ready() -> JSONResponse:
    """Readiness: a model is loaded (503 with the reason when not)."""
    body = {
        "ready": state.model is not None,
        "model": MODEL_NAME,
        "alias": MODEL_ALIAS,
        "version": state.version,
        "error": state.error,
    }
    return JSONResponse(body, status_code=200 if state.model is not None else 503)


@app.post("/admin/reload")
def reload() -> JSONResponse:
    """Load whatever version the alias points at now (503 with the reason when that fails)."""
    loaded = load(force=True)
    body = {
        "ready": state.model is not None,
        "reloaded": loaded,
        "model": MODEL_NAME,
        "alias": MODEL_ALIAS,
        "version": state.version,
        "error": state.error,
    }
    return JSONResponse(body, status_code=200 if loaded else 503)


@app.get("/metadata")
def metadata() -> dict[str, Any]:
    if state.model is None:
        raise HTTPException(503, state.error or "no model loaded")
    return {
        "model": MODEL_NAME,
        "alias": MODEL_ALIAS,
        "version": state.version,
        "run_id": state.run_id,
        "source": state.source,
        "inputs": schema_columns(),
        "loaded_at": state.loaded_at,
        "predictor": "sklearn (signature checked by this API)"
        if state.native is not None
        else "pyfunc",
    }


def run_model(
    model: Any, native: Native | None, columns: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> list[Any]:
    """Check the rows against the signature, then predict: the values, or a 422 that says why."""
    import numpy as np
    import pandas as pd

    check_inputs(rows, columns)
    try:
        if native is not None:  # checked above: every row has every column, all numbers
            predictions = native.predict(
                np.array([[row[n] for n in native.order] for row in rows], dtype=float)
            )
        else:
            predictions = model.predict(pd.DataFrame(rows))
    except Exception as error:  # schema enforcement and model errors are the caller's to fix
        raise HTTPException(422, str(error).splitlines()[0][:300]) from None
    return predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)


@app.post("/predict")
async def predict(request: PredictRequest, response: Response) -> dict[str, Any]:
    with lock:  # one consistent model, version and signature for the whole request
        model, native, columns, version = state.model, state.native, state.columns, state.version
    if model is None:
        raise HTTPException(
            503,
            f"{state.error}. Hint: run the training "
            "(python -m <package>.train in JupyterLab, or devenv smoke)",
        )
    started = time.perf_counter()
    rows = request.inputs
    if native is not None and len(rows) <= INLINE_ROWS:
        # On the event loop: for a small scikit-learn call the hop to a worker thread (and the
        # GIL hand-offs it brings) costs more than the call itself.
        values = run_model(model, native, columns, rows)
    else:  # a big batch or a model of unknown cost runs on a worker: /health never waits on it
        values = await run_in_threadpool(run_model, model, native, columns, rows)
    log.info(
        "predict",
        extra={
            "fields": {
                "rows": len(rows),
                "version": version,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            }
        },
    )
    # Which version answered, for a client behind the canary gateway (it adds the track).
    response.headers["x-model-version"] = str(version)
    return {"predictions": values, "model": MODEL_NAME, "version": version}
