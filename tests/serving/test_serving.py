"""The serving API with a real MLflow model: readiness, predictions, signature checks, reload."""

from __future__ import annotations

import pytest

from tests.serving.conftest import FEATURES, register_model

pytestmark = pytest.mark.usefixtures("mlflow_store")


def test_no_model_yet_means_not_ready_and_503_with_a_hint(client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for()
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    predict = client.post("/predict", json={"inputs": [{"sepal_length": 1.0}]})
    assert predict.status_code == 503 and "train" in predict.json()["detail"]


def test_serves_the_alias_and_matches_the_model(client_for) -> None:  # type: ignore[no-untyped-def]
    model = register_model()
    client = client_for()
    ready = client.get("/ready").json()
    assert ready["ready"] is True and ready["version"] == model["version"]
    answer = client.post("/predict", json={"inputs": model["inputs"]})
    body = answer.json()
    assert body["predictions"] == model["expected"] and body["version"] == model["version"]
    assert answer.headers["x-model-version"] == model["version"], "the gateway's clients read it"
    # Keys in any order: the estimator still gets the signature's column order.
    shuffled = [dict(reversed(list(row.items()))) for row in model["inputs"]]
    assert (
        client.post("/predict", json={"inputs": shuffled}).json()["predictions"]
        == (model["expected"])
    )
    meta = client.get("/metadata").json()
    assert meta["predictor"].startswith("sklearn"), "the flavour's estimator, called directly"
    # What the registry said to load, for whoever audits what runs (docs/security.md).
    assert meta["version"] == model["version"] and meta["run_id"]
    assert meta["source"] and meta["source"].startswith(("models:/", "runs:/", "mlflow-artifacts:"))
    assert [c["name"] for c in meta["inputs"]] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert "/predict" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("predict_fn", ["predict", "predict_proba"])
def test_fast_path_answers_exactly_as_pyfunc_would(client_for, predict_fn: str) -> None:  # type: ignore[no-untyped-def]
    """Both sides of INLINE_ROWS (event loop, worker thread), and log_model's pyfunc_predict_fn."""
    import mlflow
    import numpy.testing
    import pandas as pd
    from sklearn.datasets import load_iris

    register_model(predict_fn=predict_fn)
    client = client_for()
    pyfunc = mlflow.pyfunc.load_model("models:/iris@champion")
    frame = load_iris(as_frame=True).data
    frame.columns = FEATURES
    rows = pd.concat([frame, frame]).to_dict(orient="records")  # 300 rows
    for size in (1, 256, 257, len(rows)):
        got = client.post("/predict", json={"inputs": rows[:size]})
        assert got.status_code == 200, got.text
        expected = pyfunc.predict(pd.DataFrame(rows[:size])).tolist()
        numpy.testing.assert_allclose(got.json()["predictions"], expected, err_msg=str(size))


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"inputs": [{"sepal_length": 1.0}]}, "missing"),
        (
            {
                "inputs": [
                    {
                        "sepal_length": 1,
                        "sepal_width": 1,
                        "petal_length": 1,
                        "petal_width": 1,
                        "colour": "red",
                    }
                ]
            },
            "unknown ['colour']",
        ),
        (
            {
                "inputs": [
                    {"sepal_length": "x", "sepal_width": 1, "petal_length": 1, "petal_width": 1}
                ]
            },
            "must be a number",
        ),
        (
            {
                "inputs": [
                    {"sepal_length": True, "sepal_width": 1, "petal_length": 1, "petal_width": 1}
                ]
            },
            "must be a number",
        ),
        ({"inputs": []}, ""),
        ({"rows": []}, ""),
        ({}, ""),
    ],
)
def test_bad_payloads_get_422_never_500(client_for, payload: dict, words: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    register_model()
    response = client_for().post("/predict", json=payload)
    assert response.status_code == 422
    assert words in str(response.json()["detail"])


def test_reload_follows_the_alias(client_for) -> None:  # type: ignore[no-untyped-def]
    first = register_model(c=1.0)
    client = client_for()
    assert client.get("/ready").json()["version"] == first["version"]
    second = register_model(c=0.01)
    assert second["version"] != first["version"]
    reloaded = client.post("/admin/reload")
    assert reloaded.status_code == 200 and reloaded.json()["version"] == second["version"]
    assert (
        client.post("/predict", json={"inputs": second["inputs"]}).json()["predictions"]
        == second["expected"]
    )
