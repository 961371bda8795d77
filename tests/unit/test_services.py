from __future__ import annotations

from devenv.core.services import built_images, from_config

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


def test_built_images_once_each_named_by_the_long_running_service() -> None:
    config = {
        "services": {
            # A one-shot sorted first shares MLflow's image; MLflow names it.
            "bucket-init": {
                "build": {},
                "image": "p-mlflow:local",
                "labels": ["devenv.oneshot=true"],  # compose.yaml as written may list labels
            },
            "mlflow": {"build": {}, "image": "p-mlflow:local"},
            "serving": {"build": {}, "image": "p-serving:local"},
            "postgres": {"image": "postgres:18"},
            "jupyter": {"build": {}},  # no image name: nothing to push or deploy
        }
    }
    assert built_images(config) == {"mlflow": "p-mlflow:local", "serving": "p-serving:local"}
    assert built_images({}) == {}
