"""Data you cannot lose, on a real engine: backup → reset → restore gives back the same runs,
metric histories, models, aliases and byte-identical artifacts (read through MLflow's own
client); a restore into another project (its own secrets and bucket); bad archives, a full
disk and Ctrl-C change nothing.

One module-scoped stack; tests run in file order and build on the first one's archive.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack, cleaned_up, devenv_cli, new_stack
from tests.e2e.platform_data import fingerprint, seed

pytestmark = [pytest.mark.docker, pytest.mark.slow]

state: dict[str, Any] = {}


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return devenv_cli(stack.root, *args, timeout=900)


def one_error(done: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and words in done.stderr, done.stderr


def test_backup_reset_restore_gives_back_everything(stack: Stack) -> None:
    seed(stack, "a")
    before = fingerprint(stack)
    assert len(before["runs"]) == 3 and before["models"]["model-a"]["aliases"] == {
        "challenger": "2",
        "champion": "1",
    }
    made = cli(stack, "backup", "--json")
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    archive = Path(summary["path"])
    assert archive.parent == stack.root / "backups" and summary["mlflow"]["runs"] == 3
    assert summary["objects"] >= 3 and not summary["secrets"]
    assert archive.stat().st_mode & 0o077 != 0  # no secrets: an ordinary file
    state["archive"], state["before"] = archive, before

    reset = cli(stack, "reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert cli(stack, "up").returncode == 0
    assert fingerprint(stack)["runs"] == {}, "reset deleted the data"

    restored = cli(stack, "restore", str(archive), "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["mlflow"] == summary["mlflow"]
    assert fingerprint(stack) == before
    assert cli(stack, "status").returncode == 0


def test_restore_over_data_needs_replace_and_snapshots_first(stack: Stack) -> None:
    archive = state["archive"]
    refused = cli(stack, "restore", str(archive))
    one_error(refused, 2, "already holds 3 run(s)")
    replaced = cli(stack, "restore", str(archive), "--replace", "--json")
    assert replaced.returncode == 0, replaced.stderr
    snapshot = Path(json.loads(replaced.stdout)["snapshot"])
    assert snapshot.is_file() and snapshot.name.startswith(f"{stack.name}-before-restore-")
    assert fingerprint(stack) == state["before"]


def _rewrite(source: Path, dest: Path, change: Any) -> None:
    """A copy of the archive with one member changed by `change(name, data) -> data`."""
    with tarfile.open(source) as old, tarfile.open(dest, "w") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            data = change(member.name, data)
            member.size = len(data)
            import io

            new.addfile(member, io.BytesIO(data))


def test_bad_archives_are_refused_and_change_nothing(stack: Stack, tmp_path: Path) -> None:
    archive = state["archive"]
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    tampered = tmp_path / "tampered.tar"
    _rewrite(
        archive,
        tampered,
        lambda name, data: data[:-1] + bytes([data[-1] ^ 1]) if name.endswith(".bin") else data,
    )
    newer = tmp_path / "newer.tar"

    def bump(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["version"] = 99
        return json.dumps(manifest).encode()

    _rewrite(archive, newer, bump)
    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        tar.add(stack.root / "compose.yaml", arcname="compose.yaml")
    cases = {
        truncated: "is truncated",
        tampered: "does not match its manifest",
        newer: "newer devenv",
        foreign: "not one devenv backup wrote",
        tmp_path / "missing.tar": "does not exist",
    }
    for path, words in cases.items():
        one_error(cli(stack, "restore", str(path), "--replace"), 2, words)
    assert fingerprint(stack) == state["before"]
    exists = cli(stack, "backup", "-o", str(archive))
    one_error(exists, 2, "already exists")


def test_ctrl_c_during_backup_leaves_no_file(stack: Stack, tmp_path: Path) -> None:
    """A big object makes the backup take seconds; SIGINT once the archive is being written."""
    import boto3

    env = stack.env
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{stack.port('S3_PORT')}",
        aws_access_key_id=env["S3_ACCESS_KEY"],
        aws_secret_access_key=env["S3_SECRET_KEY"],
        region_name="us-east-1",
    )
    s3.put_object(Bucket=env["MLFLOW_BUCKET"], Key="big/blob", Body=os.urandom(300 << 20))
    target = tmp_path / "cut.tar"
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("devenv")), "backup", "-o", str(target)],
        cwd=stack.root,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            parts = list(tmp_path.glob(".cut.tar.*.part"))
            if parts and parts[0].stat().st_size > (20 << 20):
                break
            time.sleep(0.05)
        assert process.poll() is None, "the backup ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        s3.delete_object(Bucket=env["MLFLOW_BUCKET"], Key="big/blob")
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [], "nothing written, no temporary file left"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 600 kB filesystem (tmpfs): room for the dump, not for the artifacts, so the real
    ENOSPC comes while objects stream in. Mounting needs root (CI runs as root)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_during_backup_is_one_line_and_leaves_nothing(
    stack: Stack, tiny_disk: Path
) -> None:
    done = cli(stack, "backup", "-o", str(tiny_disk / "b.tar"))
    one_error(done, 2, "No space left on device")
    assert list(tiny_disk.iterdir()) == []


def test_restore_into_another_project_with_its_own_secrets(
    tmp_path_factory: pytest.TempPathFactory, kit_overrides: str
) -> None:
    """A new laptop: another project (fresh secrets, another MLflow admin password, another
    bucket name). The restore brings the data, and its admin signs in with its own .env."""
    other = new_stack(tmp_path_factory, kit_overrides + "MLFLOW_BUCKET=moved\n", {"gpu": "none"})
    with cleaned_up(other):
        other.up()
        assert other.env["MLFLOW_ADMIN_PASSWORD"] != "", "fresh secrets"
        done = cli(other, "restore", str(state["archive"]), "--json")
        assert done.returncode == 0, done.stderr
        assert fingerprint(other) == state["before"]
        assert cli(other, "status").returncode == 0
        assert cli(other, "smoke").returncode == 0  # registers and serves on top of it


def test_a_postgres_major_move_is_refused_then_done_by_backup_reset_restore(stack: Stack) -> None:
    """Real data, real majors: the kit's Postgres 15 (bookworm) holds the data, Postgres 17 is
    Debian trixie's package. `up` on 17 refuses before anything is recreated; the documented
    path (backup, reset postgres, the new image, up, restore) moves everything across."""
    from tests.e2e.images import kit

    newer = kit.postgres(17, "trixie")
    before = fingerprint(stack)
    running = stack.engine.states()["postgres"].id
    env_file = stack.root / ".env"
    saved = env_file.read_text()
    env_file.write_text(saved + f"POSTGRES_IMAGE={newer}\n")
    refused = cli(stack, "up")
    one_error(refused, 2, "holds Postgres 15 data")
    assert "devenv backup" in refused.stderr
    stack.engine.forget()
    assert stack.engine.states()["postgres"].id == running, "nothing was recreated"

    env_file.write_text(saved)
    made = cli(stack, "backup", "--json")
    assert made.returncode == 0, made.stderr
    moved = json.loads(made.stdout)["path"]
    assert cli(stack, "reset", "postgres", "--yes").returncode == 0
    env_file.write_text(saved + f"POSTGRES_IMAGE={newer}\n")
    up = cli(stack, "up")
    assert up.returncode == 0, up.stderr
    restored = cli(stack, "restore", moved, "--replace")  # the bucket kept its objects
    assert restored.returncode == 0, restored.stderr
    version = stack.exec("postgres", "psql", "-U", "postgres", "-tAc", "show server_version")
    assert version.strip().startswith("17"), version
    assert fingerprint(stack) == before


def _interrupted(stack: Stack, *args: str, after: float) -> subprocess.CompletedProcess[str]:
    """`devenv ARGS` sent SIGINT (Ctrl-C) after `after` seconds."""
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("devenv")), *args],
        cwd=stack.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(after)
    assert process.poll() is None, "it ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def test_ctrl_c_during_restore_changes_all_or_nothing(stack: Stack) -> None:
    """Data added since the backup (run set "c"), then a restore with --replace cut by Ctrl-C:
    MLflow shows either the data before the restore or the archive's, never a mix, and works;
    the same restore again gives the archive's."""
    seed(stack, "c")
    current = fingerprint(stack)
    cut = _interrupted(stack, "restore", str(state["archive"]), "--replace", after=4)
    one_error(cut, 130, "interrupted")
    deadline = time.monotonic() + 180
    while cli(stack, "status").returncode != 0:
        assert time.monotonic() < deadline, "MLflow did not come back after the Ctrl-C"
        time.sleep(3)
    assert fingerprint(stack) in (current, state["before"])
    again = cli(stack, "restore", str(state["archive"]), "--replace")
    assert again.returncode == 0, again.stderr
    assert fingerprint(stack) == state["before"]


def test_ctrl_c_during_up_then_up_again(stack: Stack) -> None:
    assert cli(stack, "down").returncode == 0
    cut = _interrupted(stack, "up", after=3)
    one_error(cut, 130, "interrupted")
    assert cli(stack, "up").returncode == 0
    assert fingerprint(stack) == state["before"]


def test_new_warns_about_volumes_an_earlier_project_left(tmp_path: Path) -> None:
    name = f"leftover{os.getpid()}"
    volume = f"{name}_postgres-data"
    subprocess.run(["docker", "volume", "create", "--label",
                    f"com.docker.compose.project={name}", volume],
                   check=True, capture_output=True)  # fmt: skip
    try:
        made = devenv_cli(tmp_path, "new", name, "--defaults", "-d", "gpu=none")
    finally:
        subprocess.run(["docker", "volume", "rm", volume], capture_output=True)
    assert made.returncode == 0, made.stderr
    assert f"docker volume rm {volume}" in made.stderr


LOG_STEADILY = """
import time
import mlflow
mlflow.set_experiment("during-backup")
with mlflow.start_run():
    for step in range(600):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        time.sleep(0.01)
"""


def test_a_backup_while_a_run_logs_restores_and_verifies(stack: Stack) -> None:
    """The manifest counts what the dump holds (one snapshot), not what MLflow held a moment
    before: a backup taken while metrics stream in restores and verifies."""
    logging = subprocess.Popen(
        ["docker", "exec", stack.engine.states()["jupyter"].name, "python", "-c", LOG_STEADILY],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(5)
        made = cli(stack, "backup", "--json")
    finally:
        out, _ = logging.communicate(timeout=300)
    assert made.returncode == 0, made.stderr
    assert logging.returncode == 0, out
    restored = cli(stack, "restore", json.loads(made.stdout)["path"], "--replace", "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["mlflow"] == json.loads(made.stdout)["mlflow"]
