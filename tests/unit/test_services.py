from __future__ import annotations

from devenv.services import from_config

CONFIG = {
    "services": {
        "mlflow": {
            "labels": {
                "devenv.title": "MLflow",
                "devenv.url": "http://localhost:5050",
                "devenv.probe": "mlflow",
                "devenv.order": "30",
            }
        },
        "bucket-init": {"labels": {"devenv.oneshot": "true"}},
        "postgres": {
            "labels": {"devenv.probe": "postgres", "devenv.order": "10", "com.example.other": "x"}
        },
        "sidecar": {},
    }
}


def test_services_come_from_labels_in_order() -> None:
    found = from_config(CONFIG)
    assert [s.name for s in found] == ["postgres", "mlflow", "sidecar"]
    mlflow = found[1]
    assert (mlflow.title, mlflow.url, mlflow.probe) == ("MLflow", "http://localhost:5050", "mlflow")
    assert found[0].title == "postgres" and found[0].url is None
    assert found[2].order == 1000


def test_empty_config() -> None:
    assert from_config({}) == []
