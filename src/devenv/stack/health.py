"""Probes that prove a service works (an API call, not "container running"), and bounded polls.

Each probe returns a ProbeResult instead of raising, so a status table can show every service's
outcome side by side. HTTP goes through the one door (devenv.core.http), MLflow through its one
client. Polling takes an injectable clock, so tests need no real waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from devenv.clients.mlflow import Login, MlflowClient
from devenv.core import http
from devenv.core.errors import DevenvError

DEFAULT_TIMEOUT = http.DEFAULT_TIMEOUT


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    latency_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "latency_ms": round(self.latency_ms, 1)}


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def timed(call: Callable[[], str]) -> ProbeResult:
    """Run one check; its word when it passes, the error's one line when it does not."""
    started = time.perf_counter()
    try:
        detail, ok = call(), True
    except DevenvError as error:
        detail, ok = error.message, False
    return ProbeResult(ok, detail, (time.perf_counter() - started) * 1000)


def http_ok(
    url: str, *, service: str = "the service", timeout: float = DEFAULT_TIMEOUT
) -> ProbeResult:
    """GET answers 200."""

    def call() -> str:
        response = http.request("GET", url, service=service, timeout=timeout)
        return f"HTTP {response.status_code}"

    return timed(call)


def mlflow_api(
    base_url: str, *, timeout: float = DEFAULT_TIMEOUT, auth: Login | None = None
) -> ProbeResult:
    """A real REST call through MLflow's API and its database, not /health (which skips both,
    and skips the Host-header check that returns 403 to unknown names)."""

    def call() -> str:
        MlflowClient(base_url, timeout=timeout, auth=auth).search_experiments(1)
        return "HTTP 200"

    return timed(call)


def jupyter_api(base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> ProbeResult:
    """An authenticated Jupyter call: proves the server runs and the token from .env works."""
    root = base_url.split("/lab")[0].rstrip("/")
    headers = {"Authorization": f"token {token}"}

    def call() -> str:
        response = http.request(
            "GET", root + "/api/status", service="JupyterLab", timeout=timeout, headers=headers
        )
        return f"HTTP {response.status_code}"

    return timed(call)


def poll(
    check: Callable[[], ProbeResult],
    *,
    timeout: float,
    interval: float = 1.0,
    clock: Clock | None = None,
) -> ProbeResult:
    """Repeat `check` until it passes or `timeout` seconds have gone; return the last result."""
    clock = clock or SystemClock()
    deadline = clock.monotonic() + timeout
    while True:
        result = check()
        if result.ok or clock.monotonic() >= deadline:
            return result
        clock.sleep(min(interval, max(0.0, deadline - clock.monotonic())))
