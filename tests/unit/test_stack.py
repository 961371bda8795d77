"""Our lifecycle logic against a fake python-on-whales boundary (real engines are in tests/e2e)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devenv.core.errors import GpuUnavailableError
from devenv.core.project import Project
from devenv.docker import gpu
from devenv.docker.records import Container, ExecResult
from devenv.stack import lifecycle, start
from devenv.stack import status as checking
from tests.unit.fakes import CONFIG, FakeEngine, container


@pytest.fixture
def engine(tmp_path: Path) -> FakeEngine:
    (tmp_path / ".env").write_text("POSTGRES_PORT=5432\n")
    return FakeEngine(tmp_path, CONFIG)


def test_status_probes_only_running_services(engine: FakeEngine) -> None:
    engine.running = [
        container("postgres", "running", "healthy"),
        container("mlflow", "exited", None, 1),
    ]
    results = {r.service.name: r for r in checking.status(engine)}
    assert set(results) == {"postgres", "mlflow", "serving"}  # one-shots are not listed
    assert results["postgres"].ok and results["postgres"].probe is not None
    assert not results["mlflow"].ok and results["mlflow"].probe is None
    assert results["serving"].state == "missing" and not results["serving"].ok
    assert (
        "exec",
        ("postgres", ["sh", "-c", 'psql -U "$POSTGRES_USER" -d "$MLFLOW_DB_NAME" -tAc "select 1"']),
    ) in engine.calls


def test_a_service_that_is_down_is_named_before_those_it_takes_with_it(
    engine: FakeEngine,
) -> None:
    """MLflow paused: the object store's probe (run in MLflow's container) fails too, but the
    hint must send the user to MLflow's log, not the object store's."""
    engine.running = [
        container("postgres", "running", "healthy"),
        container("mlflow", "paused", "unhealthy"),
        container("serving", "running", "healthy"),
    ]
    engine.exec_result = ExecResult(1, "", "container is paused")
    failure = checking.unhealthy(checking.status(engine))
    assert failure is not None
    assert failure.message == "not working: mlflow, postgres"
    assert "devenv logs mlflow" in (failure.hint or "")


def test_status_counts_a_profile_service_while_it_has_a_container(tmp_path: Path) -> None:
    gateway = {"labels": {"devenv.order": "70"}, "profiles": ["canary"]}
    config = {**CONFIG, "services": {**CONFIG["services"], "gateway": gateway}}

    def engine_with(*running: Container) -> FakeEngine:
        engine = FakeEngine(tmp_path, config)
        engine.running = list(running)
        return engine

    core = [container(name, "running", "healthy") for name in ("postgres", "mlflow", "serving")]
    without = checking.status(engine_with(*core))
    assert "gateway" not in {r.service.name for r in without}, "canary not started"
    assert all(r.ok for r in without)
    named = checking.status(engine_with(*core), ["gateway"])
    assert [r.service.name for r in named] == ["gateway"] and not named[0].ok
    failure = checking.unhealthy(named)
    assert failure is not None and "devenv canary start" in (failure.hint or "")
    shown = {
        r.service.name: r
        for r in checking.status(engine_with(*core, container("gateway", "exited", None, 1)))
    }
    assert not shown["gateway"].ok and shown["gateway"].service.profile == "canary"


def test_diagnose_names_the_root_cause_with_its_logs(engine: FakeEngine) -> None:
    engine.logs_said = "FATAL: password authentication failed"
    engine.running = [
        container("postgres", "running", "unhealthy"),
        container("bucket-init", "exited", None, 0),
        container("mlflow", "created"),
    ]
    failure = start.diagnose(engine, set(CONFIG["services"]))
    assert failure is not None
    assert failure.message.startswith("postgres did not become healthy")
    assert "password authentication failed" in (failure.details or "")
    assert ("logs", (["postgres"], 30)) in engine.calls


def test_diagnose_flags_a_failed_one_shot(engine: FakeEngine) -> None:
    engine.running = [
        container("postgres", "running", "healthy"),
        container("bucket-init", "exited", None, 1),
    ]
    failure = start.diagnose(engine, set(CONFIG["services"]))
    assert (
        failure is not None
        and "bucket-init" in failure.message
        and "exit code 1" in failure.message
    )


def test_diagnose_finds_nothing_when_all_is_well(engine: FakeEngine) -> None:
    engine.running = [container(n, "running", "healthy") for n in ("postgres", "mlflow", "serving")]
    engine.running.append(container("bucket-init", "exited", None, 0))
    assert start.diagnose(engine, set(CONFIG["services"])) is None


def test_reset_plan_lists_volumes_with_their_users(engine: FakeEngine) -> None:
    engine.config = {
        "services": {
            "postgres": {"volumes": [{"type": "volume", "source": "pg"}]},
            "jupyter": {
                "volumes": [{"type": "volume", "source": "home"}, {"type": "bind", "source": "/x"}]
            },
        },
        "volumes": {"pg": {"name": "proj_pg"}, "home": {"name": "proj_home"}},
    }
    everything = lifecycle.reset_plan(engine, [])
    assert [(p.volume, p.services) for p in everything] == [
        ("proj_pg", ("postgres",)),
        ("proj_home", ("jupyter",)),
    ]
    assert [p.volume for p in lifecycle.reset_plan(engine, ["jupyter"])] == ["proj_home"]


OK = [gpu.Layer("host", True, "1 GPU"), gpu.Layer("engine", True, "runtime")]
NO_RUNTIME = [
    gpu.Layer("host", True, "1 GPU"),
    gpu.Layer("engine", False, "the Docker engine has no NVIDIA runtime", "install it"),
]


@pytest.mark.parametrize(
    ("mode", "overlay", "checked", "expected"),
    [
        ("auto", True, OK, True),
        ("auto", True, NO_RUNTIME, False),
        ("auto", False, OK, False),
        ("none", True, OK, False),
        ("nvidia", True, OK, True),
    ],
)
def test_gpu_plan(
    tmp_path: Path, mode: str, overlay: bool, checked: list[gpu.Layer], expected: bool
) -> None:
    if overlay:
        (tmp_path / "compose.gpu.yaml").write_text("services: {}\n")
    use, reason = start.gpu_plan(Project(tmp_path), mode, lambda: checked)
    assert use is expected and reason
    if mode == "auto" and overlay and not expected:
        assert "no NVIDIA runtime" in reason and "install it" in reason


@pytest.mark.parametrize(("overlay", "words"), [(True, "NVIDIA runtime"), (False, "gpu=none")])
def test_gpu_on_fails_early_with_the_reason(tmp_path: Path, overlay: bool, words: str) -> None:
    if overlay:
        (tmp_path / "compose.gpu.yaml").write_text("services: {}\n")
    with pytest.raises(GpuUnavailableError) as info:
        start.gpu_plan(Project(tmp_path), "nvidia", lambda: NO_RUNTIME)
    assert words in info.value.message and info.value.hint


def converged_stack(engine: FakeEngine) -> set[str]:
    """Every service as compose would leave it: running and healthy, init exited 0, made from
    the current configuration hash and image."""
    for name in CONFIG["services"]:
        oneshot = name == "bucket-init"
        engine.running.append(
            replace(
                container(name, "exited" if oneshot else "running", None if oneshot else "healthy"),
                image=f"proj-{name}:local",
                image_id=f"sha256:{name}",
                config_hash=f"hash-{name}",
            )
        )
        engine.hashes[name] = f"hash-{name}"
        engine.images[f"proj-{name}:local"] = f"sha256:{name}"
    return set(CONFIG["services"])


def test_a_healthy_unchanged_stack_needs_no_compose_up(engine: FakeEngine) -> None:
    targets = converged_stack(engine)
    assert start.converged(engine, targets, gpu=False)


@pytest.mark.parametrize(
    "change",
    ["config edited", "image rebuilt", "init failed", "unhealthy", "missing", "init running"],
)
def test_any_difference_means_compose_up_runs(engine: FakeEngine, change: str) -> None:
    targets = converged_stack(engine)
    by_name = {c.service: i for i, c in enumerate(engine.running)}
    if change == "config edited":
        engine.hashes["mlflow"] = "hash-new"
    elif change == "image rebuilt":
        engine.images["proj-serving:local"] = "sha256:new"
    elif change == "init failed":
        engine.running[by_name["bucket-init"]] = replace(
            engine.running[by_name["bucket-init"]], exit_code=1
        )
    elif change == "init running":
        engine.running[by_name["bucket-init"]] = replace(
            engine.running[by_name["bucket-init"]], state="running"
        )
    elif change == "unhealthy":
        engine.running[by_name["postgres"]] = replace(
            engine.running[by_name["postgres"]], health="starting"
        )
    else:
        del engine.running[by_name["serving"]]
    assert not start.converged(engine, targets, gpu=False)


def test_reset_of_a_service_also_removes_what_depends_on_it(engine: FakeEngine) -> None:
    """MLflow kept running after `reset postgres` would hold a connection to a database without
    its tables: it goes too, and so does what depends on it; the object store stays."""
    engine.config = {
        "services": {
            "postgres": {"volumes": [{"type": "volume", "source": "pg"}]},
            "objectstore": {},
            "mlflow": {"depends_on": {"postgres": {}, "objectstore": {}}},
            "serving": {"depends_on": {"mlflow": {}}},
        },
        "volumes": {"pg": {"name": "proj_pg"}},
    }
    removed: list[list[str]] = []
    engine.remove = lambda names, volumes: removed.append(list(names))  # type: ignore[method-assign]
    engine.remove_volumes = lambda names: list(names)  # type: ignore[method-assign]
    engine.require = lambda: None  # type: ignore[method-assign]
    plans = lifecycle.reset_plan(engine, ["postgres"])
    assert lifecycle.reset(engine, plans, ["postgres"]) == ["proj_pg"]
    assert removed == [["mlflow", "postgres", "serving"]]
