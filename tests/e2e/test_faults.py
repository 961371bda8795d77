"""Faults the platform must survive with nothing lost, on a real engine: the Docker daemon
restarted under a running stack, Postgres killed (-9) while a training run logs metrics, the
object store killed during an artifact upload. After each, the runs, models, aliases and
artifacts that existed before are all there, byte-identical (tests/e2e/platform_data.py).

A crash is a SIGKILL to the service's main process from the host (what the OOM killer does),
not `docker kill`, which the engine records as a deliberate stop and does not restart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, devenv_cli
from tests.e2e.platform_data import fingerprint, seed

pytestmark = [pytest.mark.docker, pytest.mark.slow]

state: dict[str, object] = {}

# Logs 400 metric steps, retrying a failed call the way a training script should; prints how
# many calls failed before they went through.
LOG_WHILE = """
import sys, time
import mlflow
mlflow.set_experiment("faults")
failed = 0
with mlflow.start_run(run_name="during-kill") as run:
    print("run", run.info.run_id, flush=True)
    for step in range(400):
        for attempt in range(60):
            try:
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
                break
            except Exception:
                failed += 1
                time.sleep(1)
        time.sleep(0.02)
print("failed", failed, flush=True)
"""

UPLOAD = """
import os, tempfile
import mlflow
mlflow.set_experiment("faults")
path = os.path.join(tempfile.mkdtemp(), "big.bin")
with open(path, "wb") as f:
    f.write(os.urandom(200 << 20))
with mlflow.start_run(run_name="upload-cut"):
    try:
        mlflow.log_artifact(path)
        print("uploaded", flush=True)
    except Exception as error:
        print("upload failed:", type(error).__name__, flush=True)
"""


def crash(stack: Stack, service: str) -> None:
    """SIGKILL to the container's main process, from the host."""
    name = stack.engine.states()[service].name
    pid = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Pid}}", name], capture_output=True, text=True
    ).stdout.strip()
    assert pid.isdigit() and pid != "0", pid
    os.kill(int(pid), 9)


def wait_green(stack: Stack, seconds: int = 240) -> None:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = devenv_cli(stack.root, "status", timeout=120)
        if last.returncode == 0:
            return
        time.sleep(3)
    raise AssertionError(f"devenv status never went green:\n{last and last.stdout}")


def test_seed(stack: Stack) -> None:
    seed(stack, "f")
    state["before"] = fingerprint(stack)


def test_postgres_killed_while_a_run_logs_metrics(stack: Stack) -> None:
    assert "before" in state, "needs test_seed"
    process = subprocess.Popen(
        ["docker", "exec", stack.engine.states()["jupyter"].name, "python", "-c", LOG_WHILE],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(6)  # well into the run
    crash(stack, "postgres")
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out
    run_id = next(line.split()[1] for line in out.splitlines() if line.startswith("run "))
    wait_green(stack)
    history = stack.exec(
        "jupyter", "python", "-c",
        "import sys, mlflow; c = mlflow.MlflowClient(); "
        "print(sorted({m.step for m in c.get_metric_history(sys.argv[1], 'loss')}) "
        "== list(range(400)))",
        run_id,
    )  # fmt: skip
    assert history.strip().endswith("True"), "every step logged, the early ones kept"
    after = fingerprint(stack)
    assert {k: v for k, v in after["runs"].items() if k in state["before"]["runs"]} == state[  # type: ignore[index]
        "before"
    ]["runs"]  # type: ignore[index]
    assert after["models"] == state["before"]["models"]  # type: ignore[index]


def test_object_store_killed_during_an_upload(stack: Stack) -> None:
    result: dict[str, str] = {}

    def upload() -> None:
        done = subprocess.run(
            ["docker", "exec", stack.engine.states()["jupyter"].name, "python", "-c", UPLOAD],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        result["out"] = done.stdout + done.stderr

    worker = threading.Thread(target=upload)
    worker.start()
    time.sleep(8)  # writing 200 MB, then sending it through MLflow's proxy
    crash(stack, "objectstore")
    worker.join(timeout=900)
    assert "out" in result
    wait_green(stack)
    after = fingerprint(stack)
    before = state["before"]
    for run_id, run in before["runs"].items():  # type: ignore[attr-defined]
        assert after["runs"][run_id] == run, "earlier artifacts byte-identical"
    assert after["models"] == before["models"]  # type: ignore[index]


def _daemon_restart() -> None:
    """Restart the Docker daemon the way this machine runs it: systemd's unit, or (CI) the
    dockerd process .ci/run started, relaunched with the same command line."""
    if (
        shutil.which("systemctl")
        and subprocess.run(["systemctl", "is-active", "--quiet", "docker"]).returncode == 0
    ):
        subprocess.run(["systemctl", "restart", "docker"], check=True)
        return
    pids = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout
    if os.geteuid() != 0 or not pids.split():
        pytest.skip("no dockerd this test may restart (needs root, or systemd's docker unit)")
    pid = int(pids.split()[0])
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    os.kill(pid, 15)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    log = open("/tmp/dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
    subprocess.Popen(
        [c.decode() for c in command],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
            return
        time.sleep(1)
    raise AssertionError("dockerd did not come back")


def test_docker_daemon_restart_with_the_stack_up(stack: Stack) -> None:
    """Services come back by their restart policies: status green with no manual step."""
    before = fingerprint(stack)
    _daemon_restart()
    stack.engine.forget()
    wait_green(stack)
    assert fingerprint(stack) == before
