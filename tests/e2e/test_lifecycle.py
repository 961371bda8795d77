"""The devenv lifecycle on a real engine, driven through the CLI as a user would.

One story, in file order, on one project: up -> status -> idempotent up -> a killed service is
named and healed -> data survives down/up -> `--gpu on` fails early on this CPU host -> reset
deletes the data -> a busy port stops `up` before anything starts -> a dead engine is one line.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from devenv.clients.mlflow import login
from tests.e2e.conftest import Stack, devenv_cli
from tests.helpers import run_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]
EXPERIMENT = "kept-across-restarts"


def ids(stack: Stack) -> dict[str, str]:
    return {c.name: c.id for c in stack.engine.containers(all=False)}


def mlflow(stack: Stack) -> str:
    return f"http://localhost:{stack.port('MLFLOW_PORT')}/api/2.0/mlflow"


def test_up_brings_everything_up_and_proves_it(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(capsys, "up", cwd=project_dir.root)
    assert result.code == 0, result.err
    assert "stack up and working" in result.err
    token = project_dir.env["JUPYTER_TOKEN"]
    assert f"/lab?token={token}" in result.out
    assert f"postgresql://mlflow@localhost:{project_dir.port('POSTGRES_PORT')}/mlflow" in result.out
    assert project_dir.env["MLFLOW_DB_PASSWORD"] not in result.out

    status = run_cli(capsys, "status", "--json", cwd=project_dir.root / "services")
    assert status.code == 0, status.err
    data = json.loads(status.out)
    assert data["ok"] is True
    by_name = {s["name"]: s for s in data["results"]}
    assert set(by_name) == {"postgres", "objectstore", "mlflow", "jupyter", "serving"}
    assert all(s["status"] == "ok" for s in by_name.values())
    assert all(
        s["data"]["probe"]["ok"] and s["data"]["health"] == "healthy" for s in by_name.values()
    )


def test_second_up_recreates_nothing(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    before = ids(project_dir)
    result = run_cli(capsys, "up", cwd=project_dir.root)
    assert result.code == 0, result.err
    assert ids(project_dir) == before


def test_smoke_proves_the_golden_path(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    serving = f"http://localhost:{project_dir.port('SERVING_PORT')}"
    assert httpx.get(f"{serving}/ready").status_code == 503, "no model registered yet"
    assert httpx.post(f"{serving}/predict", json={"inputs": [{"x": 1}]}).status_code == 503

    result = run_cli(capsys, "smoke", "--json", cwd=project_dir.root)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["ok"] is True
    assert [s["name"] for s in report["results"]] == [
        "train in JupyterLab",
        "run tracked in MLflow",
        "model files in S3",
        "registered, alias set",
        "serving reloaded",
        "prediction matches",
        "bad input refused",
    ]
    bad = httpx.post(f"{serving}/predict", json={"inputs": [{"sepal_length": "x"}]})
    assert 400 <= bad.status_code < 500 and "missing" in bad.json()["detail"]


def test_host_mlflow_client_needs_only_the_tracking_uri(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    """The official MLflow client on the host, given the tracking URI and the login and nothing
    else (what an IDE user sets), logs an artifact, downloads it and loads the champion within
    seconds: MLflow's presigned URLs must name an address the host reaches (serve.py)."""
    settings = run_cli(capsys, "env", "--format", "json", "--show-secrets", cwd=project_dir.root)
    assert settings.code == 0, settings.err
    values = json.loads(settings.out)
    keep = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    env.update({key: values[key] for key in keep})
    script = (
        "import os, sys, time, tempfile, mlflow\n"
        "t = time.monotonic()\n"
        "data = os.urandom(3 * 1024 * 1024)\n"
        "path = os.path.join(tempfile.mkdtemp(), 'blob.bin')\n"
        "open(path, 'wb').write(data)\n"
        "mlflow.set_experiment('host-client')\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_artifact(path)\n"
        "back = mlflow.artifacts.download_artifacts(f'runs:/{run.info.run_id}/blob.bin')\n"
        "assert open(back, 'rb').read() == data, 'artifact differs'\n"
        "uri = f'models:/{sys.argv[1]}@champion'\n"
        "mlflow.artifacts.download_artifacts(artifact_uri=uri)\n"
        "model = mlflow.pyfunc.load_model(uri)\n"
        "print(type(model).__name__, round(time.monotonic() - t, 1))\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script, project_dir.env["MODEL_NAME"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    print(f"host log + download + load: {time.monotonic() - started:.1f}s", result.stdout.strip())
    assert "PyFuncModel" in result.stdout


def test_ps_and_exec_on_the_running_stack(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    listed = run_cli(capsys, "ps", "--json", cwd=project_dir.root)
    assert listed.code == 0, listed.err
    rows = {r["service"]: r for r in json.loads(listed.out)}
    assert rows["mlflow"]["state"] == "running" and rows["mlflow"]["health"] == "healthy"
    assert any(p.endswith("->5000/tcp") for p in rows["mlflow"]["ports"]), rows["mlflow"]
    assert rows["bucket-init"]["state"] == "exited" and rows["bucket-init"]["exit_code"] == 0

    sql = run_cli(
        capsys,
        "exec",
        "postgres",
        "psql",
        "-U",
        "postgres",
        "-tAc",
        "select 40 + 2",
        cwd=project_dir.root,
    )
    assert sql.code == 0 and sql.out.strip() == "42", sql
    failed = run_cli(capsys, "exec", "mlflow", "sh", "-c", "exit 3", cwd=project_dir.root)
    assert failed.code == 3, "the command's own exit code"
    assert "exited with 3 in mlflow" in failed.err and "Traceback" not in failed.err


def test_devenv_test_runs_the_projects_own_checks_and_tests_in_its_image(  # type: ignore[no-untyped-def]
    project_dir: Stack,
) -> None:
    """The generated project's ruff and pytest (training a model, serving it, 422s) pass in the
    JupyterLab image; a planted failing test fails the command with pytest's code; nothing is
    written into the project."""
    root = project_dir.root
    before = {p for p in root.rglob("*") if p.is_file()}
    passed = devenv_cli(root, "test", timeout=900)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-2000:]
    assert "All checks passed" in passed.stdout and " passed" in passed.stdout, passed.stdout
    assert "test_bad_payloads_get_422" not in passed.stdout  # quiet on success: counts only
    planted = root / "tests" / "test_planted.py"
    planted.write_text("def test_planted():\n    assert 40 + 2 == 43\n")
    try:
        failed = devenv_cli(root, "test", "--no-lint", "--", "-q", "tests/test_planted.py")
    finally:
        planted.unlink()
    assert failed.returncode == 1, failed.stderr
    assert "test_planted" in failed.stdout and "checks or tests failed (exit 1)" in failed.stderr
    written = {p for p in root.rglob("*") if p.is_file()} - before
    assert not written, f"devenv test wrote into the project: {sorted(map(str, written))[:5]}"


def test_dev_container_attaches_to_the_stacks_jupyter(project_dir: Stack) -> None:
    """The official Dev Containers CLI: `devcontainer up` attaches to this stack's JupyterLab
    service (no second stack), and `devcontainer exec` runs the project's tests and reaches
    MLflow with the stack's settings."""
    cli = shutil.which("devcontainer")
    if cli is None:
        pytest.skip("the Dev Containers CLI is not installed (npm install -g @devcontainers/cli)")
    root = str(project_dir.root)
    # The CLI takes COMPOSE_PROJECT_NAME from its environment, else from the first such line of
    # the .env in its working folder; compose takes the last, and this test's .env appends its
    # own name below the template's: given here, as a shell that exports it would.
    env = {**os.environ, "COMPOSE_PROJECT_NAME": project_dir.name}
    up = subprocess.run([cli, "up", "--workspace-folder", root], capture_output=True,
                        text=True, timeout=900, cwd=root, env=env)  # fmt: skip
    assert up.returncode == 0, up.stderr[-3000:]
    outcome = json.loads(up.stdout.strip().splitlines()[-1])
    assert outcome["outcome"] == "success", outcome
    assert outcome["composeProjectName"] == project_dir.name, "this stack, not a second one"
    project_dir.engine.forget()
    (jupyter,) = [c for c in project_dir.engine.containers() if c.service == "jupyter"]
    assert outcome["containerId"] == jupyter.id, "the stack's own JupyterLab, not a second one"

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        # By id: exec infers a container from the folder only for containers it created.
        where = ["--container-id", jupyter.id, "--workspace-folder", root]
        return subprocess.run([cli, "exec", *where, *command],
                              capture_output=True, text=True, timeout=600, cwd=root,
                              env=env)  # fmt: skip

    tests = run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    probe = "import mlflow; print(len(mlflow.search_experiments()) >= 1, mlflow.get_tracking_uri())"
    mlflow = run("python", "-c", probe)
    assert mlflow.returncode == 0, mlflow.stderr[-2000:]
    assert mlflow.stdout.split()[-2:] == ["True", "http://mlflow:5000"], mlflow.stdout


def test_a_paused_mlflow_is_named_in_seconds_not_minutes(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    """`docker pause` (a hung server). smoke was silent for 300 s and more; status and smoke
    now name MLflow at once (the engine says it is paused; a probe gives up after 5 s)."""
    assert project_dir.compose("pause", "mlflow").returncode == 0
    try:
        started = time.monotonic()
        status = run_cli(capsys, "status", cwd=project_dir.root)
        status_s = time.monotonic() - started
        smoke = run_cli(capsys, "smoke", cwd=project_dir.root)
        smoke_s = time.monotonic() - started - status_s
    finally:
        assert project_dir.compose("unpause", "mlflow").returncode == 0
    # The object store's probe runs inside the MLflow container, so it is named too.
    failing = status.err.split("not working: ")[-1].splitlines()[0].split(", ")
    assert status.code == 13 and "mlflow" in failing, status.err
    assert "paused" in status.out, status.out
    assert smoke.code == 18 and "mlflow" in smoke.err and "Traceback" not in smoke.err, smoke.err
    with capsys.disabled():
        print(f"\npaused MLflow: status answered in {status_s:.1f}s, smoke in {smoke_s:.1f}s")
    for _ in range(60):  # unpaused, gunicorn replaces the workers it saw as hung: bounded wait
        if run_cli(capsys, "status", cwd=project_dir.root).code == 0:
            break
        time.sleep(2)
    else:
        pytest.fail("MLflow did not work again within 2 minutes of its unpause")


def test_a_dead_service_is_named_and_up_heals_it(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    project_dir.engine.kill(["serving"])
    result = run_cli(capsys, "status", cwd=project_dir.root)
    assert result.code == 13
    assert "not working: serving" in result.err and "devenv logs serving" in result.err

    assert run_cli(capsys, "up", cwd=project_dir.root).code == 0
    assert run_cli(capsys, "status", cwd=project_dir.root).code == 0


def test_down_keeps_data(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    admin = login(project_dir.env)
    created = httpx.post(
        f"{mlflow(project_dir)}/experiments/create", json={"name": EXPERIMENT}, auth=admin
    )
    assert created.status_code == 200, created.text

    result = run_cli(capsys, "down", cwd=project_dir.root)
    assert result.code == 0 and "volumes kept" in result.err
    assert not project_dir.engine.containers()

    assert run_cli(capsys, "up", cwd=project_dir.root).code == 0
    found = httpx.get(
        f"{mlflow(project_dir)}/experiments/get-by-name",
        params={"experiment_name": EXPERIMENT},
        auth=admin,
    )
    assert found.status_code == 200, "the experiment survived down/up"


def test_a_lost_env_is_not_replaced_while_the_data_exists(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    """New secrets would lock the stack out of databases made with the old ones."""
    env, example = project_dir.root / ".env", project_dir.root / ".env.example"
    saved_env, saved_example = env.read_text(), example.read_text()
    # As in a real project, .env.example names the project as .env did.
    example.write_text(saved_example + f"\nCOMPOSE_PROJECT_NAME={project_dir.name}\n")
    env.unlink()
    try:
        result = run_cli(capsys, "up", cwd=project_dir.root)
        assert result.code == 20, result.err
        assert "volumes exist" in result.err and "restore .env" in result.err
        assert not env.exists(), "no .env with new secrets was written"
    finally:
        env.write_text(saved_env)
        example.write_text(saved_example)
    assert run_cli(capsys, "status", cwd=project_dir.root).code == 0, "the stack is untouched"


def test_gpu_on_fails_early_and_leaves_the_stack_alone(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    assert (project_dir.root / "compose.gpu.yaml").is_file()
    before = ids(project_dir)
    result = run_cli(capsys, "up", "--gpu", "on", cwd=project_dir.root)
    assert result.code == 16
    assert "no NVIDIA runtime" in result.err and "hint:" in result.err
    assert ids(project_dir) == before
    assert run_cli(capsys, "status", cwd=project_dir.root).code == 0


def test_reset_asks_then_deletes(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    # Without a terminal and without --yes nothing is deleted.
    refused = run_cli(capsys, "reset", cwd=project_dir.root)
    assert refused.code == 2 and "--yes" in refused.err
    assert run_cli(capsys, "status", cwd=project_dir.root).code == 0

    volumes = set(project_dir.engine.volumes(project_dir.name))
    assert {f"{project_dir.name}_postgres-data", f"{project_dir.name}_objectstore-data"} <= volumes
    result = run_cli(capsys, "reset", "--yes", cwd=project_dir.root)
    assert result.code == 0, result.err
    for volume in volumes:
        assert volume in result.err, "reset lists what it destroys"
        assert volume not in project_dir.engine.volumes(project_dir.name)


def test_busy_port_stops_up_before_anything_starts(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    port = project_dir.port("MLFLOW_PORT")
    with socket.socket() as squatter:
        # As a server binds: MLflow's port may still have connections in TIME_WAIT.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = run_cli(capsys, "up", cwd=project_dir.root)
    assert result.code == 14
    assert f"port {port}" in result.err and "MLFLOW_PORT" in result.err
    assert "pid" in result.err, "names the process holding the port"
    assert not project_dir.engine.containers(), "nothing was started"


def test_mlflow_without_its_login_is_refused_off_loopback(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    """Whoever reaches an MLflow without a login can register a model that serving runs."""
    env = project_dir.root / ".env"
    saved = env.read_text()
    env.write_text(saved + "\nBIND_ADDRESS=0.0.0.0\nMLFLOW_AUTH=off\n")
    try:
        result = run_cli(capsys, "up", cwd=project_dir.root)
    finally:
        env.write_text(saved)
    assert result.code == 2, result.err
    assert "MLFLOW_AUTH=off" in result.err and "0.0.0.0" in result.err
    assert "Traceback" not in result.err
    assert not project_dir.engine.containers(), "nothing was started"


def test_dead_engine_is_one_clear_line(capsys, project_dir: Stack, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    for command in (["status"], ["up"], ["down"]):
        result = run_cli(capsys, *command, cwd=project_dir.root)
        assert result.code == 10, (command, result)
        assert "Traceback" not in result.err
        assert result.err.startswith("error: the Docker engine is not answering")
