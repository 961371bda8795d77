"""Fault injection at the doors: every command that speaks HTTP or runs a program, driven
through a real rendered project with each fault its door can meet (a refused connection, a
timeout, HTTP 500, an answer that is not JSON; a tool missing, timing out, failing).

The property, for every case: one `error:` line and a `hint:`, the documented exit code, no
traceback, and nothing half-changed (the project's files as they were, no changing request
sent). Docker stands in as a fake engine with every service running and healthy; the HTTP
door gets a fault-injecting transport, the programs door a fault-injecting spawn.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from devenv.core import http, proc
from devenv.core.envfile import read_env
from devenv.core.project import Project
from devenv.docker.engine import Engine
from devenv.docker.records import Container, EngineInfo
from devenv.stack import pull
from devenv.stack.preflight import published_ports
from tests.helpers import git, rendered_project, run_cli
from tests.unit.fakes import FakeEngine
from tests.unit.test_bad_input import one_error

# ---------------------------------------------------------------- a project, a healthy fake stack


@pytest.fixture(scope="module")
def template_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One rendered project (defaults: serving, the canary, the registry, k8s) and compose's
    own resolution of it, made once; each test works on a copy."""
    root = rendered_project(tmp_path_factory.mktemp("faults"))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "project"]):
        git(root, *args)
    config = Engine(Project(root), profiles=["*"]).config
    return root, config


@pytest.fixture
def project(
    template_project: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A copy of the project whose Engine is a healthy fake stack (Docker is not the door
    under test here)."""
    import copy
    import shutil

    source, shared = template_project
    config = copy.deepcopy(shared)
    root = tmp_path / "p"
    shutil.copytree(source, root, symlinks=True)
    monkeypatch.setattr(
        "devenv.docker.engine.Engine",
        lambda project=None, profiles=(): HealthyStack(project.root if project else root, config),
    )
    return root


class HealthyStack(FakeEngine):
    """Every service running and healthy, made from today's configuration: `up` converges
    without compose, exec probes pass, and every image exists."""

    info = EngineInfo({"ServerVersion": "28.0.0", "MemTotal": 16 << 30, "Runtimes": {}})
    compose_version = "Docker Compose version v2.40.0"

    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        super().__init__(root, config)
        ports: dict[str, list[int]] = {}
        for port in published_ports(config):
            ports.setdefault(port.service, []).append(port.port)
        for name, spec in config["services"].items():
            oneshot = (spec.get("labels") or {}).get("devenv.oneshot") == "true"
            self.running.append(
                Container(
                    name,
                    f"proj-{name}-1",
                    "exited" if oneshot else "running",
                    None if oneshot else "healthy",
                    0,
                    tuple(("127.0.0.1", p, "80/tcp") for p in ports.get(name, [])),
                    image=f"img-{name}",
                    image_id=f"id-{name}",
                    config_hash="same",
                )
            )
            self.hashes[name] = "same"
            self.images[f"img-{name}"] = f"id-{name}"
            self.images[str(spec.get("image") or "")] = f"id-{name}"
        for plan in pull.plans(self, set(config["services"])):  # and each is up to date
            self.images[plan.marker] = self.images[plan.image]

    def forget(self) -> None:
        self._env = None  # .env is read again; compose's view of it stays the recorded one

    def image_tag(self, source: str, target: str) -> None:
        self.calls.append(("tag", (source, target)))

    def image_push(self, tag: str) -> None:
        self.calls.append(("push", tag))

    def containers_everywhere(self) -> list[Container]:
        return [c for c in self.running if c.running]

    def volumes(self, compose_project: str | None = None) -> list[str]:
        return []


def snapshot(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file of the project and a hash of its bytes (git's folder aside)."""
    found = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and not name.startswith(".git/") and not name.startswith(skip):
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# ---------------------------------------------------------------- the HTTP door's double


HTTP_FAULTS = ("refused", "timeout", "http 500", "not json")


@dataclass
class FaultyNetwork:
    """A transport for the HTTP door: the faulty services meet `fault`, the others answer as
    a healthy stack would. Every request is recorded."""

    fault: str
    faulty: set[str]
    seen: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    @staticmethod
    def service(request: httpx.Request) -> str:
        path = request.url.path
        if path.startswith("/api/2.0/mlflow"):
            return "mlflow"
        if path in ("/runtime", "/runtime_modify", "/stats") or (
            path == "/ready" and request.url.port == ADMIN_PORT[0]
        ):
            return "gateway"
        if path.startswith("/v2"):
            return "registry"
        if path.startswith("/api/"):
            return "jupyter"
        return "serving"

    def handle(self, request: httpx.Request) -> httpx.Response:
        service = self.service(request)
        self.seen.append((request.method, request.url.path))
        self.bodies.append(request.content.decode() or str(request.url.params))
        step = f"{request.method} {request.url.path}"
        if service in self.faulty or step in self.faulty or "all" in self.faulty:
            if self.fault == "refused":
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            if self.fault == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if self.fault == "http 500":
                return httpx.Response(500, text="Internal Server Error")
            return httpx.Response(200, text="<html>a captive portal</html>")
        return healthy_answer(service, request)

    def changed(self) -> list[tuple[str, str]]:
        """Requests that change something: weights, aliases, tags, a reload."""
        return [(m, p) for m, p in self.seen if m in ("POST", "PUT") and "search" not in p]


ADMIN_PORT = [0]  # the gateway's admin port of the project under test


def healthy_answer(service: str, request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if service == "mlflow":
        if path.endswith("/registered-models/alias") and request.method == "GET":
            version = "2" if request.url.params.get("alias") == "challenger" else "1"
            return httpx.Response(200, json={"model_version": {"version": version}})
        return httpx.Response(200, json={"experiments": []})
    if service == "gateway":
        if path == "/runtime":
            return httpx.Response(
                200, json={"entries": {"canary.challenger": {"final_value": "0"}}}
            )
        if path == "/stats":
            return httpx.Response(200, json={"stats": []})
        return httpx.Response(200, text="LIVE")
    if service == "registry":
        return httpx.Response(200, json={"repositories": []})
    if service == "serving" and path == "/admin/reload":
        return httpx.Response(200, json={"version": "1"})
    return httpx.Response(200, json={})


@pytest.fixture
def network(project: Path) -> Iterator[Callable[[str, set[str]], FaultyNetwork]]:
    ADMIN_PORT[0] = int(read_env(project / ".env")["CANARY_ADMIN_PORT"])

    def install(fault: str, faulty: set[str]) -> FaultyNetwork:
        double = FaultyNetwork(fault, faulty)
        http.use_transport(httpx.MockTransport(double.handle))
        return double

    yield install
    http.use_transport(None)


# Command -> (arguments, exit code when the HTTP door fails). The codes are docs/cli.md's: 13 a
# service does not work, 18 the smoke test failed, 23 the registry does not answer.
HTTP_COMMANDS: dict[str, tuple[list[str], int]] = {
    "status": (["status"], 13),
    "up": (["up"], 13),
    "smoke": (["smoke"], 18),
    "onboard": (["onboard"], 13),
    "canary start": (["canary", "start"], 13),
    "canary set": (["canary", "set", "30"], 13),
    "canary status": (["canary", "status"], 13),
    "canary promote": (["canary", "promote"], 13),
    "canary rollback": (["canary", "rollback"], 13),
    "images push": (["images", "push", "--tag", "v1", "--registry", "localhost:5999"], 23),
    "images promote": (["images", "promote", "dev", "staging", "--registry", "localhost:5999"], 23),
}


@pytest.mark.parametrize("fault", HTTP_FAULTS)
@pytest.mark.parametrize("command", sorted(HTTP_COMMANDS))
def test_every_http_command_meets_every_http_fault(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    network: Callable[[str, set[str]], FaultyNetwork],
    command: str,
    fault: str,
) -> None:
    args, code = HTTP_COMMANDS[command]
    before = snapshot(project)
    double = network(fault, {"all"})
    one_error(run_cli(capsys, *args, cwd=project), code)
    assert snapshot(project) == before, "a failed command changed the project's files"
    assert double.changed() == [], "a failed command sent a change"


@pytest.mark.parametrize("fault", HTTP_FAULTS)
@pytest.mark.parametrize("command", ["canary set", "canary promote", "canary rollback"])
def test_canary_changes_nothing_when_mlflow_alone_fails(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    network: Callable[[str, set[str]], FaultyNetwork],
    command: str,
    fault: str,
) -> None:
    """The gateway answers, MLflow does not: the weights, .env and the aliases stay as they
    were (`canary set 30` used to shift the gateway and write .env, then die)."""
    args, code = HTTP_COMMANDS[command]
    before = snapshot(project)
    double = network(fault, {"mlflow"})
    one_error(run_cli(capsys, *args, cwd=project), code, "MLflow")
    assert snapshot(project) == before
    assert double.changed() == []


def test_promote_puts_the_champion_back_when_the_split_cannot_follow(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    network: Callable[[str, set[str]], FaultyNetwork],
) -> None:
    """The alias moved, then the gateway refused the new weights: the alias goes back."""
    double = network("http 500", {"POST /runtime_modify"})
    one_error(run_cli(capsys, "canary", "promote", cwd=project), 13, "runtime_modify")
    moves = [
        json.loads(body)["version"]
        for (method, path), body in zip(double.seen, double.bodies, strict=True)
        if method == "POST" and path.endswith("/registered-models/alias")
    ]
    assert moves == ["2", "1"], "moved to the challenger's version, then back"
    assert read_env(project / ".env")["CANARY_PERCENT"] == "0"


def test_the_http_door_counts_for_the_healthy_path_too(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    network: Callable[[str, set[str]], FaultyNetwork],
) -> None:
    """The double is no blanket refusal: with no fault, the same commands pass."""
    network("refused", set())
    assert run_cli(capsys, "status", cwd=project).code == 0
    result = run_cli(capsys, "canary", "set", "30", cwd=project)
    assert result.code == 0, result.err
    assert read_env(project / ".env")["CANARY_PERCENT"] == "30"


# ---------------------------------------------------------------- the programs door's double

TOOL_FAULTS = ("missing", "timing out", "failing")


def spawn_fault(fault: str, tools: set[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    real = proc._spawn

    def spawn(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if Path(args[0]).name not in tools:
            return real(args, **kwargs)
        if fault == "missing":
            raise FileNotFoundError(2, "No such file or directory", args[0])
        if fault == "timing out":
            raise subprocess.TimeoutExpired(args, kwargs["timeout"])
        return subprocess.CompletedProcess(args, 1, "", f"fatal: {Path(args[0]).name} broke\n")

    return spawn


@pytest.fixture
def stand_in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kind and nvidia-smi on PATH: k8s apply looks for a cluster tool before it asks kubectl
    anything, and the GPU layers look for nvidia-smi before they run it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("kind", "nvidia-smi"):
        (folder / tool).write_text("#!/bin/sh\nexit 0\n")
        (folder / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{__import__('os').environ['PATH']}")


# Command -> (arguments, the tools it runs, exit code when a tool is missing / times out /
# fails). 7 tool missing, 8 tool failed, 2 usage, 21 manifests invalid, 22 cluster unavailable.
TOOL_COMMANDS: dict[str, tuple[list[str], set[str], dict[str, int]]] = {
    "new": (["new", "NEW"], {"git"}, {"missing": 7, "timing out": 8, "failing": 8}),
    "update": (["update"], {"git"}, {"missing": 7, "timing out": 8, "failing": 2}),
    "images push": (
        ["images", "push", "--registry", "localhost:5999"],
        {"git"},
        {"missing": 7, "timing out": 8, "failing": 2},
    ),
    "k8s render": (
        ["k8s", "render", "local"],
        {"kubectl"},
        {"missing": 7, "timing out": 8, "failing": 21},
    ),
    "k8s validate": (
        ["k8s", "validate", "local"],
        {"kubectl"},
        {"missing": 7, "timing out": 8, "failing": 21},
    ),
    "k8s apply": (
        ["k8s", "apply", "local"],
        {"kubectl"},
        {"missing": 7, "timing out": 8, "failing": 22},
    ),
    "gpu-check": (
        ["gpu-check", "--require-gpu"],
        {"nvidia-smi"},
        {"missing": 16, "timing out": 16, "failing": 16},
    ),
    "k8s status": (
        ["k8s", "status", "local"],
        {"kubectl"},
        {"missing": 7, "timing out": 8, "failing": 22},
    ),
}
# What k8s writes before kustomize runs: git-ignored inputs, made again on every render.
GENERATED = (
    "k8s/base/generated/",
    "k8s/overlays/local/platform.env",
    "k8s/overlays/local/secrets.env",
)


@pytest.mark.parametrize("fault", TOOL_FAULTS)
@pytest.mark.parametrize("command", sorted(TOOL_COMMANDS))
def test_every_tool_command_meets_every_tool_fault(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stand_in_cluster: None,
    command: str,
    fault: str,
) -> None:
    args, tools, codes = TOOL_COMMANDS[command]
    args = [str(tmp_path / "new-project") if a == "NEW" else a for a in args]
    before = snapshot(project, skip=GENERATED)
    monkeypatch.setattr(proc, "_spawn", spawn_fault(fault, tools))
    one_error(run_cli(capsys, *args, cwd=project), codes[fault])
    assert snapshot(project, skip=GENERATED) == before
    assert not (tmp_path / "new-project").exists(), "devenv new left a half-made project"


def test_the_fault_matrix_covers_each_door() -> None:
    """Counted, so a command that stops using a door (or a new one) is seen here."""
    http_cases = len(HTTP_COMMANDS) * len(HTTP_FAULTS) + 3 * len(HTTP_FAULTS)
    tool_cases = len(TOOL_COMMANDS) * len(TOOL_FAULTS)
    assert (http_cases, tool_cases) == (56, 24)


@pytest.mark.parametrize("fault", TOOL_FAULTS)
def test_doctor_reports_a_broken_nvidia_smi_as_a_caveat(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    stand_in_cluster: None,
    fault: str,
) -> None:
    """No GPU is a caveat, not a failure: doctor warns, with the tool's words, and exits 0."""
    monkeypatch.setattr(proc, "_spawn", spawn_fault(fault, {"nvidia-smi"}))
    result = run_cli(capsys, "doctor", "--json", cwd=project)
    assert result.code == 0 and "Traceback" not in result.err, result.err
    gpu = next(r for r in json.loads(result.out)["results"] if r["name"] == "gpu")
    assert gpu["status"] == "warn" and "nvidia-smi" in gpu["detail"], gpu


# ---------------------------------------------------------------- for real, on loopback


class _Admin(BaseHTTPRequestHandler):
    """Envoy's admin API as the gateway answers it, recording what it is asked to change."""

    modified: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        body = {"entries": {"canary.challenger": {"final_value": "10"}}}
        payload = json.dumps(body if self.path.startswith("/runtime") else {"stats": []})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(payload.encode())

    def do_POST(self) -> None:
        _Admin.modified.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_canary_set_with_mlflow_unresponsive_changes_nothing(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    """Real sockets, no transport double: the gateway's admin API answers on loopback, MLflow's
    port accepts connections and never answers (a paused container)."""
    admin = ThreadingHTTPServer(("127.0.0.1", 0), _Admin)
    threading.Thread(target=admin.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    _Admin.modified = []
    config = served_config(project)
    labels = config["services"]["gateway"]["labels"]
    labels["devenv.admin"] = f"http://127.0.0.1:{admin.server_address[1]}"
    config["services"]["mlflow"]["labels"]["devenv.url"] = (
        f"http://127.0.0.1:{silent.getsockname()[1]}"
    )
    env_before = (project / ".env").read_bytes()
    try:
        result = run_cli(capsys, "canary", "set", "30", cwd=project)
    finally:
        admin.shutdown()
        silent.close()
    one_error(result, 13, "MLflow did not answer")
    assert _Admin.modified == [], "the gateway's weights moved"
    assert (project / ".env").read_bytes() == env_before, ".env changed"


def served_config(project: Path) -> dict[str, Any]:
    """The compose configuration the faked engine of `project` serves (to point it elsewhere)."""
    from devenv.docker import engine

    config: dict[str, Any] = engine.Engine(Project(project)).config
    return config


# ---------------------------------------------------------------- defects of the bad-input campaign


def test_restart_of_a_stopped_stack_says_so(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "restarted all services" and exited 0 with nothing running."""
    from devenv.docker import engine

    stack = engine.Engine(Project(project))
    stack.running.clear()  # type: ignore[attr-defined]
    monkeypatch.setattr(engine, "Engine", lambda project=None, profiles=(): stack)
    one_error(run_cli(capsys, "restart", cwd=project), 13, "the stack is not running")
    one_error(run_cli(capsys, "restart", "mlflow", cwd=project), 13, "mlflow is not running")


def test_images_push_of_an_unknown_service_is_exit_12(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    one_error(run_cli(capsys, "images", "push", "nosuch", cwd=project), 12, "nosuch")


def test_a_negative_share_is_a_bad_percent_not_an_option(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    one_error(run_cli(capsys, "canary", "set", "-5", cwd=project), 2, "whole percent 0-100")


def test_new_with_an_empty_name_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`devenv new ''` rendered the template into the current folder."""
    here = tmp_path / "here"
    here.mkdir()
    one_error(run_cli(capsys, "new", "", "--defaults", cwd=here), 2, "DEST is empty")
    assert list(here.iterdir()) == []


def test_a_huge_argument_is_not_echoed_whole(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    result = run_cli(capsys, "status", "x" * 10_000, cwd=project)
    one_error(result, 12, "10000 characters")
    assert max(len(line) for line in result.err.splitlines()) < 500


def test_k8s_status_fails_when_a_workload_fails(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It printed FAIL for a failed Job and exited 0."""
    real = proc._spawn

    def kubectl(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if Path(args[0]).name != "kubectl" or args[1] == "kustomize":
            return real(args, **kwargs)
        if args[1] == "version":
            return subprocess.CompletedProcess(args, 0, "Server Version: v1.35.0\n", "")
        failed = {"status": {"failed": 2}} if args[2] == "job/train" else {"status": {}}
        state = (
            failed
            if args[2].startswith("job/")
            else {"spec": {"replicas": 1}, "status": {"readyReplicas": 1}}
        )
        return subprocess.CompletedProcess(args, 0, json.dumps(state), "")

    monkeypatch.setattr(proc, "_spawn", kubectl)
    result = run_cli(capsys, "k8s", "status", "local", cwd=project)
    one_error(result, 13, "2 failed pod(s)")
    assert "job/train" in result.out
