from __future__ import annotations

import base64
import json

from devenv.docker.progress import Progress
from devenv.ui import tables


def feed(progress: Progress, *events: object) -> list[bool]:
    return [progress.feed(e if isinstance(e, str) else json.dumps(e)) for e in events]


def test_container_events_move_each_service() -> None:
    p = Progress("my-proj", ["postgres", "mlflow", "bucket-init"])
    changed = feed(
        p,
        {"id": "Network my-proj_default", "status": "Created"},
        {"id": "Container my-proj-postgres-1", "status": "Started"},
        {"id": "Container my-proj-bucket-init-1", "status": "Exited"},
        {"id": "Container my-proj-postgres-1", "status": "Healthy"},
    )
    assert changed == [False, True, True, True]
    assert p.rows["postgres"].phase == "Healthy" and p.rows["bucket-init"].phase == "Exited"
    assert p.rows["mlflow"].phase == "pending"


def test_build_vertexes_show_the_step() -> None:
    p = Progress("proj", ["serving"])
    feed(p, {"vertexes": [{"name": "[serving builder 3/5] RUN pip install -r req.txt"}]})
    assert p.rows["serving"].phase == "Building"
    assert p.rows["serving"].detail.startswith("RUN pip install")


def test_errors_warnings_and_plain_text() -> None:
    p = Progress("proj", [])
    feed(
        p,
        {
            "level": "warning",
            "msg": "Docker Compose is configured to build using Bake, but buildx isn't installed",
        },
        {"level": "warning", "msg": "the attribute `version` is obsolete"},
        {"error": True, "message": "failed to solve: base image not found"},
        "not json at all",
        "",
    )
    assert p.warnings == ["the attribute `version` is obsolete"]
    assert p.errors == ["failed to solve: base image not found"]
    assert list(p.raw) == ["not json at all"]


def test_table_renders_every_row() -> None:
    p = Progress("proj", ["a", "b"])
    assert tables.progress(p).row_count == 2


def test_build_step_output_is_kept_decoded() -> None:
    # BuildKit's JSON progress carries what a RUN step printed base64-encoded in `logs`.
    said = b"Could not fetch URL https://pypi.org/simple/x/: [SSL: CERTIFICATE_VERIFY_FAILED]\n"
    event = {"logs": [{"vertex": "sha256:0", "stream": 1, "data": base64.b64encode(said).decode()}]}
    p = Progress("my-proj", ["jupyter"])
    assert p.feed(json.dumps(event)) is False
    assert list(p.build_log) == [said.decode().strip()]
    p.feed(json.dumps({"logs": [{"data": "not base64!"}]}))  # ignored, never raised
