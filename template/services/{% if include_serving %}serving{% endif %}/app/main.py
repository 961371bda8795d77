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
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

MODEL_NAME = os.environ.get("MODEL_NAME", "model")
MODEL_ALIAS = os.environ.get("MODEL_ALIAS", "champion")
RELOAD_INTERVAL = float(os.environ.get("RELOAD_INTERVAL", "30"))
NUMERIC = {"double", "float", "long", "integer"}


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: easy to grep, easy to ship."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname, "msg": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry)


handler = logging.StreamHandler()
handler.setFormatter(JsonFormatter())
log = logging.getLogger("serving")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.propagate = False


@dataclass
class Loaded:
    model: Any = None
    version: str | None = None
    run_id: str | None = None
    loaded_at: float | None = None
    error: str | None = "not loaded yet"
    # Read once per load, not per request: the signature's columns, and the flavour's own
    # estimator when there is one (scikit-learn): called directly, after our own signature
    # check, it skips pyfunc's per-call schema enforcement (the bulk of a one-row request).
    columns: list[dict[str, Any]] = field(default_factory=list)
    native: Any = None


state = Loaded()
lock = threading.Lock()


def current_version() -> tuple[str, str | None]:
    from mlflow import MlflowClient

    mv = MlflowClient().get_model_version_by_alias(MODEL_NAME, MODEL_ALIAS)
    return str(mv.version), mv.run_id


def load(force: bool = False) -> bool:
    """Load the alias's version if it moved (or when forced). True when a model is loaded."""
    import mlflow

    try:
        version, run_id = current_version()
    except Exception as error:  # no such model or alias yet, or MLflow unreachable
        with lock:
            if state.model is None:
                state.error = (f"no model at models:/{MODEL_NAME}@{MODEL_ALIAS} "
                               f"({type(error).__name__}); train and register one first")
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
    native = None
    if "sklearn" in (model.metadata.flavors or {}) and all("name" in c for c in columns):
        try:
            native = model.get_raw_model()
        except Exception:  # an older MLflow or another wrapper: pyfunc's path still works
            native = None
    with lock:
        state.model, state.version, state.run_id = model, version, run_id
        state.columns, state.native = columns, native
        state.loaded_at, state.error = time.time(), None
    log.info("model loaded", extra={"fields": {"model": MODEL_NAME, "version": version}})
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
            raise HTTPException(422, f"row {i}: missing {missing or 'nothing'}, "
                                     f"unknown {unknown or 'nothing'}; expected {sorted(names)}")
        for column in columns:
            value = row[column["name"]]
            if column.get("type") in NUMERIC and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise HTTPException(422, f"row {i}: {column['name']} must be a number, "
                                         f"got {value!r}")


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@app.get("/ready")
def ready() -> JSONResponse:
    """Readiness: a model is loaded (503 with the reason when not)."""
    body = {"ready": state.model is not None, "model": MODEL_NAME, "alias": MODEL_ALIAS,
            "version": state.version, "error": state.error}
    return JSONResponse(body, status_code=200 if state.model is not None else 503)


@app.post("/admin/reload")
def reload() -> JSONResponse:
    """Load whatever version the alias points at now (503 with the reason when that fails)."""
    loaded = load(force=True)
    body = {"ready": state.model is not None, "reloaded": loaded, "model": MODEL_NAME,
            "alias": MODEL_ALIAS, "version": state.version, "error": state.error}
    return JSONResponse(body, status_code=200 if loaded else 503)


@app.get("/metadata")
def metadata() -> dict[str, Any]:
    if state.model is None:
        raise HTTPException(503, state.error or "no model loaded")
    return {"model": MODEL_NAME, "alias": MODEL_ALIAS, "version": state.version,
            "run_id": state.run_id, "inputs": schema_columns(),
            "loaded_at": state.loaded_at,
            "predictor": "sklearn (signature checked by this API)" if state.native is not None
            else "pyfunc"}


@app.post("/predict")
def predict(request: PredictRequest, response: Response) -> dict[str, Any]:
    import pandas as pd

    with lock:  # one consistent model, version and signature for the whole request
        model, native, columns, version = state.model, state.native, state.columns, state.version
    if model is None:
        raise HTTPException(503, f"{state.error}. Hint: run the training "
                                 "(python -m <package>.train in JupyterLab, or devenv smoke)")
    check_inputs(request.inputs, columns)
    started = time.perf_counter()
    try:
        if native is not None:  # the signature is checked: the estimator gets its columns
            frame = pd.DataFrame(request.inputs, columns=[c["name"] for c in columns])
            predictions = native.predict(frame)
        else:
            predictions = model.predict(pd.DataFrame(request.inputs))
    except Exception as error:  # schema enforcement and model errors are the caller's to fix
        raise HTTPException(422, str(error).splitlines()[0][:300]) from None
    values = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
    log.info("predict", extra={"fields": {"rows": len(request.inputs), "version": version,
                                          "ms": round((time.perf_counter() - started) * 1000, 2)}})
    # Which version answered, for a client behind the canary gateway (it adds the track).
    response.headers["x-model-version"] = str(version)
    return {"predictions": values, "model": MODEL_NAME, "version": version}
