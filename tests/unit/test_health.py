"""Probes against real local HTTP servers (no mocks of httpx), polling with a fake clock."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from devenv.clients.mlflow import login
from devenv.stack import health
from devenv.stack.health import ProbeResult


class Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[tuple[str, str], tuple[int, str]]] = {}
    seen_headers: ClassVar[list[dict[str, str]]] = []
    login: ClassVar[str | None] = None  # the Authorization header MLflow's login wants

    def _answer(self, method: str) -> None:
        Handler.seen_headers.append(dict(self.headers))
        if method == "POST":
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
        status, body = Handler.routes.get((method, self.path), (404, "not found"))
        if Handler.login and self.headers.get("Authorization") != Handler.login:
            status, body = 401, "You are not authenticated."
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.routes, Handler.seen_headers, Handler.login = {}, [], None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_mlflow_probe_calls_the_api_not_health(server: str) -> None:
    Handler.routes[("GET", "/health")] = (200, "OK")
    assert not health.mlflow_api(server).ok, "a green /health alone proves nothing"
    Handler.routes[("POST", "/api/2.0/mlflow/experiments/search")] = (200, json.dumps({}))
    result = health.mlflow_api(server)
    assert result.ok and result.latency_ms > 0


def test_mlflow_probe_reports_host_check_403(server: str) -> None:
    Handler.routes[("POST", "/api/2.0/mlflow/experiments/search")] = (403, "Invalid Host header")
    result = health.mlflow_api(server)
    assert not result.ok and "403" in result.detail and "Host" in result.detail


def test_mlflow_probe_signs_in_and_names_a_refused_login(server: str) -> None:
    Handler.routes[("POST", "/api/2.0/mlflow/experiments/search")] = (200, json.dumps({}))
    Handler.login = "Basic " + base64.b64encode(b"admin:right").decode()
    assert health.mlflow_api(server, auth=("admin", "right")).ok
    anonymous = health.mlflow_api(server)
    assert not anonymous.ok and "without a login" in anonymous.detail, anonymous
    wrong = health.mlflow_api(server, auth=("admin", "wrong"))
    assert not wrong.ok and "login of admin" in wrong.detail and "401" in wrong.detail
    assert "wrong" not in wrong.detail, "never the password"


def test_the_login_comes_from_env_and_not_when_off() -> None:
    assert login({"MLFLOW_ADMIN_PASSWORD": "pw"}) == ("admin", "pw")
    assert login({"MLFLOW_ADMIN_USER": "ml", "MLFLOW_ADMIN_PASSWORD": "pw"}) == ("ml", "pw")
    assert login({"MLFLOW_AUTH": "OFF", "MLFLOW_ADMIN_PASSWORD": "pw"}) is None
    assert login({}) is None


def test_jupyter_probe_sends_the_token(server: str) -> None:
    Handler.routes[("GET", "/api/status")] = (200, "{}")
    assert health.jupyter_api(server + "/lab", "s3cret").ok
    assert Handler.seen_headers[-1]["Authorization"] == "token s3cret"


def test_connection_refused_is_a_result_not_an_exception() -> None:
    result = health.http_ok("http://127.0.0.1:9/health", timeout=1)
    assert not result.ok and "Connect" in result.detail


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_poll_returns_as_soon_as_the_check_passes() -> None:
    answers = iter([False, False, True])
    clock = FakeClock()
    result = health.poll(
        lambda: ProbeResult(next(answers), "x", 1), timeout=10, interval=2, clock=clock
    )
    assert result.ok and clock.sleeps == [2, 2]


def test_poll_is_bounded_and_returns_the_last_failure() -> None:
    clock = FakeClock()
    calls = []

    def check() -> ProbeResult:
        calls.append(clock.now)
        return ProbeResult(False, f"down at {clock.now}", 1)

    result = health.poll(check, timeout=5, interval=2, clock=clock)
    assert not result.ok and result.detail == "down at 5.0"
    assert calls == [0, 2, 4, 5] and clock.now == 5
