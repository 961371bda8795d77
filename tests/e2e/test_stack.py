"""The default stack on a real engine: healthy, wired together through service names, durable.

Tests run in file order on one module-scoped stack: bring-up, the MLflow round trip, then a
restart that must keep what the round trip wrote.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import boto3
import httpx
import pytest

from devenv.clients.mlflow import login
from devenv.stack import health
from tests.e2e.conftest import Stack
from tests.helpers import run_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LONG_RUNNING = {"postgres", "objectstore", "mlflow", "jupyter", "serving"}

# Runs inside the Jupyter container, against http://mlflow:5000 from its environment.
LOG_RUN = """
import json, os, tempfile
import mlflow
mlflow.set_experiment("e2e-roundtrip")
with mlflow.start_run() as run:
    mlflow.log_param("kind", "e2e")
    mlflow.log_metric("accuracy", 0.91)
    path = os.path.join(tempfile.mkdtemp(), "note.txt")
    with open(path, "w") as f:
        f.write("hello from jupyter")
    mlflow.log_artifact(path)
print(json.dumps({"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
                  "tracking_uri": mlflow.get_tracking_uri()}))
"""

READ_RUN = """
import json, sys, tempfile
import mlflow
client = mlflow.MlflowClient()
run = client.get_run(sys.argv[1])
local = client.download_artifacts(run.info.run_id, "note.txt", tempfile.mkdtemp())
print(json.dumps({"accuracy": run.data.metrics["accuracy"], "note": open(local).read()}))
"""

state: dict[str, str] = {}


def s3(stack: Stack):  # type: ignore[no-untyped-def]
    env = stack.env
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{stack.port('S3_PORT')}",
        aws_access_key_id=env["S3_ACCESS_KEY"],
        aws_secret_access_key=env["S3_SECRET_KEY"],
        region_name="us-east-1",
    )


def psql(stack: Stack, sql: str) -> str:
    return stack.exec("postgres", "psql", "-U", "postgres", "-d", "mlflow", "-tAc", sql).strip()


def test_every_service_is_healthy(stack: Stack) -> None:
    states = stack.states()
    for name in LONG_RUNNING:
        assert states[name]["state"] == "running", (name, states[name])
        assert states[name]["health"] == "healthy", (name, states[name])
    for oneshot in ("objectstore-init", "bucket-init"):
        assert states[oneshot]["state"] == "exited", (oneshot, states[oneshot])
        assert states[oneshot]["exit_code"] == 0, (oneshot, states[oneshot])


def test_probes_prove_each_service_works_from_the_host(stack: Stack) -> None:
    """The CLI's probes, through the published loopback ports: API calls, not container state."""
    url = f"http://localhost:{stack.port('MLFLOW_PORT')}"
    mlflow = health.mlflow_api(url, auth=login(stack.env))
    assert mlflow.ok, mlflow
    anonymous = health.mlflow_api(url)
    assert not anonymous.ok and "HTTP 401" in anonymous.detail, "MLflow's login is enforced"
    jupyter = f"http://localhost:{stack.port('JUPYTER_PORT')}/lab"
    assert health.jupyter_api(jupyter, stack.env["JUPYTER_TOKEN"]).ok
    assert not health.jupyter_api(jupyter, "not-the-token").ok, "the token is enforced"
    assert health.http_ok(f"http://localhost:{stack.port('SERVING_PORT')}/health").ok


def test_mlflow_roundtrip_from_jupyter(stack: Stack) -> None:
    out = stack.exec("jupyter", "python", "-c", LOG_RUN)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["tracking_uri"] == "http://mlflow:5000"  # through the service name
    state.update(result)

    # The run, its param and metric are rows in Postgres, owned by the MLflow role.
    run_id = result["run_id"]
    assert psql(stack, f"select status from runs where run_uuid = '{run_id}'") == "FINISHED"
    assert psql(stack, f"select value from metrics where run_uuid = '{run_id}'") == "0.91"
    assert psql(stack, "select tableowner from pg_tables where tablename = 'runs'") == "mlflow"

    # The artifact is an object in the bucket, written by the MLflow server's proxy.
    objects = s3(stack).list_objects_v2(Bucket=stack.env["MLFLOW_BUCKET"])
    keys = [o["Key"] for o in objects.get("Contents", [])]
    matching = [k for k in keys if run_id in k and k.endswith("note.txt")]
    assert matching, keys
    body = s3(stack).get_object(Bucket=stack.env["MLFLOW_BUCKET"], Key=matching[0])["Body"]
    assert body.read() == b"hello from jupyter"
    state["artifact_key"] = matching[0]


def test_no_one_without_the_login_registers_a_model_or_moves_an_alias(stack: Stack) -> None:
    """Serving runs whatever version the alias names: a model is code. Anonymous requests, a
    wrong password and a forged Host header are all refused; the admin of .env is let in."""
    assert state.get("run_id"), "needs the round-trip test"
    api = f"http://localhost:{stack.port('MLFLOW_PORT')}/api/2.0/mlflow"
    admin = login(stack.env)
    assert admin is not None
    intruders: list[dict[str, Any]] = [
        {},
        {"auth": (admin[0], admin[1] + "x")},
        {"headers": {"Host": "mlflow:5000"}},
    ]
    for how in intruders:
        created = httpx.post(f"{api}/registered-models/create", json={"name": "evil"}, **how)
        assert created.status_code == 401, (how, created.status_code)
        moved = httpx.post(
            f"{api}/registered-models/alias",
            json={"name": "evil", "alias": "champion", "version": "1"},
            **how,
        )
        assert moved.status_code == 401, (how, moved.status_code)
    created = httpx.post(f"{api}/registered-models/create", json={"name": "e2e-login"}, auth=admin)
    assert created.status_code == 200, created.text
    version = httpx.post(
        f"{api}/model-versions/create",
        json={
            "name": "e2e-login",
            "source": f"runs:/{state['run_id']}/note.txt",
            "run_id": state["run_id"],
        },
        auth=admin,
    )
    assert version.status_code == 200, version.text
    number = version.json()["model_version"]["version"]
    aliased = httpx.post(
        f"{api}/registered-models/alias",
        json={"name": "e2e-login", "alias": "champion", "version": number},
        auth=admin,
    )
    assert aliased.status_code == 200, aliased.text


def test_data_survives_down_and_up(stack: Stack) -> None:
    """Also the upgrade path: earlier templates ran SeaweedFS as root, so an existing volume
    is root's. Made so here, the next `up` must hand it to uid 1000 with nothing lost."""
    assert state.get("run_id"), "needs the round-trip test"
    stack.down(volumes=False)
    assert not stack.engine.containers(), "down removes the containers"
    made_root = stack.compose("run", "--rm", "--no-deps", "--user", "0:0", "--entrypoint",
                              "chown", "objectstore-init", "-R", "0:0", "/data")  # fmt: skip
    assert made_root.returncode == 0, made_root.stderr
    stack.up(build=False)
    assert stack.exec("objectstore", "find", "/data", "!", "-user", "1000").strip() == ""

    out = stack.exec("jupyter", "python", "-c", READ_RUN, state["run_id"])
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"accuracy": 0.91, "note": "hello from jupyter"}
    head = s3(stack).head_object(Bucket=stack.env["MLFLOW_BUCKET"], Key=state["artifact_key"])
    assert head["ContentLength"] == len("hello from jupyter")


def test_gpu_check_on_the_cpu_path(capsys, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    """gpu-check runs its probe with the Jupyter container's torch and says why there is no GPU."""
    result = run_cli(capsys, "gpu-check", "--json", cwd=stack.root)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["cuda_available"] is False
    assert [layer["name"] for layer in report["results"]] == [
        "host",
        "engine",
        "compatibility",
        "container",
        "framework",
    ]
    probe = report["probe"]
    assert probe["torch"].endswith("+cpu") and probe["reason"]
    assert probe["cpu_fp32_gflops"] > 0
    strict = run_cli(capsys, "gpu-check", "--require-gpu", cwd=stack.root)
    assert strict.code == 16 and "CUDA is not usable in jupyter" in strict.err


def processes(stack: Stack, columns: str) -> dict[str, list[str]]:
    """Every process of each long-running service as the engine lists it (`docker top`, the
    PID column first as it requires), not just what an `exec` inside sees."""
    found: dict[str, list[str]] = {}
    for container in stack.engine.containers(all=False):
        service = container.service
        if service in LONG_RUNNING:  # one-shot init containers have exited
            top = subprocess.run(
                ["docker", "top", container.id, "-eo", f"pid,{columns}"],
                capture_output=True,
                text=True,
                check=True,
            )
            found[service] = top.stdout.splitlines()[1:]
    assert set(found) == LONG_RUNNING
    return found


def test_every_running_service_is_non_root(stack: Stack) -> None:
    """No process of any long-running service runs as root. (The written-down exceptions, the
    MinIO and RustFS object stores, are not part of this default SeaweedFS stack; see
    docs/images.md.)"""
    for service, top in processes(stack, "uid,comm").items():
        uids = {int(line.split()[1]) for line in top}
        assert uids and 0 not in uids, f"{service} runs a process as root: {top}"
    for service in ("mlflow", "jupyter", "serving", "objectstore"):
        assert stack.exec(service, "id", "-u").strip() == "1000", service


def test_runtime_images_carry_no_build_tools(stack: Stack) -> None:
    """The builder stage keeps compilers and installers; the runtime images do not (Jupyter keeps
    pip on purpose: `%pip install` in a notebook)."""
    probe = "for t in gcc cc c++ make pip pip3; do command -v $t || true; done"
    found = {s: stack.exec(s, "sh", "-c", probe).split() for s in ("mlflow", "serving", "jupyter")}
    assert found["mlflow"] == [] and found["serving"] == [], found
    assert [t for t in found["jupyter"] if "pip" not in t] == [], found


def test_no_secret_in_any_process_command_line(stack: Stack) -> None:
    """`ps` shows command lines to every user of the host: secrets travel in the environment."""
    secret = ("PASSWORD", "KEY", "TOKEN")
    secrets = [v for k, v in stack.env.items() if v and any(w in k for w in secret)]
    assert len(secrets) >= 4
    for service, top in processes(stack, "args").items():
        leaked = [s for s in secrets if s in "\n".join(top)]
        assert not leaked, f"{service} shows a secret in its command line"
