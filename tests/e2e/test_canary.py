"""The canary on the real stack: two registered versions, the Envoy gateway built and started by
`devenv canary start`, 1,000 predictions split as set, a live shift to 100 %, a promotion that
moves the MLflow alias. Bad input first: nothing may change."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections import Counter

import httpx
import pytest

from devenv.core.envfile import read_env
from devenv.core.project import Project
from devenv.docker.engine import Engine
from tests.e2e.conftest import Stack
from tests.helpers import run_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def predict(client: httpx.Client, url: str, **headers: str) -> tuple[str, str]:
    """(track, version) that answered, from the response headers."""
    response = client.post(url, json={"inputs": [ROW]}, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["x-canary-track"], response.headers["x-model-version"]


def latencies(client: httpx.Client, url: str, n: int) -> list[float]:
    found = []
    for _ in range(n):
        started = time.perf_counter()
        assert client.post(url, json={"inputs": [ROW]}).status_code == 200
        found.append((time.perf_counter() - started) * 1000)
    return found


def checked(status_json: str) -> set[str]:
    """The services `devenv status --json` reported on."""
    return {r["name"] for r in json.loads(status_json)["results"]}


def test_canary_split_shift_and_promote(capsys, project_dir: Stack) -> None:  # type: ignore[no-untyped-def]
    root = project_dir.root
    assert run_cli(capsys, "up", cwd=root).code == 0
    assert run_cli(capsys, "smoke", cwd=root).code == 0, "version 1, the champion"
    package = project_dir.env["MODEL_NAME"]
    before = run_cli(capsys, "status", "--json", cwd=root)
    assert before.code == 0, "a stack without the canary is not failing for lack of it"
    assert "gateway" not in checked(before.out)

    # Bad input changes nothing: the gateway is not running, a share out of range, no challenger.
    down = run_cli(capsys, "canary", "set", "10", cwd=root)
    assert down.code == 13 and "not answering" in down.err and "canary start" in down.err
    out_of_range = run_cli(capsys, "canary", "set", "150", cwd=root)
    assert out_of_range.code == 2 and "0-100" in out_of_range.err
    no_challenger = run_cli(capsys, "canary", "start", cwd=root)
    assert no_challenger.code == 2 and "alias 'challenger'" in no_challenger.err
    assert "MODEL_ALIAS=challenger" in no_challenger.err, "the hint says how to make one"
    assert read_env(root / ".env")["CANARY_PERCENT"] == "0"
    assert not (root / ".devenv" / "gateway").exists(), "nothing rendered, nothing started"

    trained = project_dir.compose(
        "exec", "-T", "-e", "MODEL_ALIAS=challenger", "jupyter",
        "python", "-m", f"{package}.train", "--json",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]

    started = run_cli(capsys, "canary", "start", "--json", cwd=root)
    assert started.code == 0, started.err
    report = json.loads(started.out)
    versions = {r["name"]: r["data"]["version"] for r in report["results"]}
    assert versions == {"champion": "1", "challenger": "2"}
    assert report["percent"] == 0
    during = run_cli(capsys, "status", "--json", cwd=root)
    assert during.code == 0, during.err
    assert {"gateway", "serving-challenger"} <= checked(during.out), "status sees what runs"
    assert "Canary gateway (canary profile)" in run_cli(capsys, "urls", cwd=root).out

    gateway = f"http://127.0.0.1:{project_dir.port('CANARY_PORT')}/predict"
    direct = f"http://127.0.0.1:{project_dir.port('SERVING_PORT')}/predict"
    assert run_cli(capsys, "canary", "set", "10", cwd=root).code == 0
    assert read_env(root / ".env")["CANARY_PERCENT"] == "10", "kept for the next start"
    with httpx.Client(timeout=30) as client:
        seen = Counter(
            predict(client, gateway, **{"x-user-id": uuid.uuid4().hex}) for _ in range(1000)
        )
        assert set(seen) <= {("champion", "1"), ("challenger", "2")}, seen
        share = sum(n for (track, _), n in seen.items() if track == "challenger") / 10
        assert 7 <= share <= 13, seen
        user = uuid.uuid4().hex
        assert len({predict(client, gateway, **{"x-user-id": user}) for _ in range(20)}) == 1
        assert {predict(client, gateway, **{"x-model-track": "challenger"}) for _ in range(20)} == {
            ("challenger", "2")
        }

        status = json.loads(run_cli(capsys, "canary", "status", "--json", cwd=root).out)
        counted = {r["name"]: r["data"] for r in status["results"]}
        assert counted["champion"]["requests"] + counted["challenger"]["requests"] >= 1000
        assert counted["champion"]["errors"] == counted["challenger"]["errors"] == 0

        assert run_cli(capsys, "canary", "set", "100", cwd=root).code == 0
        assert {predict(client, gateway) for _ in range(100)} == {("challenger", "2")}

        promoted = run_cli(capsys, "canary", "promote", "--json", cwd=root)
        assert promoted.code == 0, promoted.err
        after = {r["name"]: r["data"] for r in json.loads(promoted.out)["results"]}
        assert after["champion"]["version"] == "2" and json.loads(promoted.out)["percent"] == 0
        assert "(was version 1; alias moved by admin)" in promoted.err, "who moved it, from what"
        assert {predict(client, gateway) for _ in range(100)} == {("champion", "2")}
        assert read_env(root / ".env")["CANARY_PERCENT"] == "0"

        # The gateway's own cost: the same call with and without it, side by side.
        with_gw, without = latencies(client, gateway, 300), latencies(client, direct, 300)
    p50 = statistics.median
    p99 = lambda xs: sorted(xs)[int(len(xs) * 0.99) - 1]  # noqa: E731
    with capsys.disabled():
        print(
            f"\ncanary split at 10 %: {share:.1f} % to the challenger over 1,000 calls; /predict "
            f"p50/p99 {p50(without):.1f}/{p99(without):.1f} ms direct, "
            f"{p50(with_gw):.1f}/{p99(with_gw):.1f} ms through the gateway"
        )
    ps = run_cli(capsys, "ps", cwd=root)
    assert "gateway" in ps.out and "serving-challenger" in ps.out
    assert run_cli(capsys, "down", cwd=root).code == 0
    every = Engine(Project(root), profiles=["*"])
    assert not every.containers(), "down stops the canary's containers too"
