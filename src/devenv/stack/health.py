"""Probes that prove a service works (an API call, not "container running"), and bounded polls.

Each probe returns a ProbeResult instead of raising, so a status table can show every service's
outcome side by side. Polling takes an injectable clock, so tests need no real waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

DEFAULT_TIMEOUT = 5.0


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


def _timed(
    call: Callable[[], httpx.Response], judge: Callable[[httpx.Response], str | None]
) -> ProbeResult:
    """Run one HTTP call; `judge` returns None when the response proves health, else why not."""
    started = time.perf_counter()
    try:
        response = call()
    except httpx.HTTPError as error:
        elapsed = (time.perf_counter() - started) * 1000
        return ProbeResult(False, f"{type(error).__name__}: {error}".strip(": "), elapsed)
    elapsed = (time.perf_counter() - started) * 1000
    problem = judge(response)
    return ProbeResult(problem is None, problem or f"HTTP {response.status_code}", elapsed)


def _expect_status(status: int) -> Callable[[httpx.Response], str | None]:
    def judge(response: httpx.Response) -> str | None:
        if response.status_code == status:
            return None
        return f"HTTP {response.status_code} (expected {status}): {response.text[:120].strip()}"

    return judge


def http_ok(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> ProbeResult:
    """GET answers 200."""
    return _timed(lambda: httpx.get(url, timeout=timeout), _expect_status(200))


def mlflow_api(base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> ProbeResult:
    """A real REST call through MLflow's API and its database, not /health (which skips both,
    and skips the Host-header check that returns 403 to unknown names)."""

    def judge(response: httpx.Response) -> str | None:
        if problem := _expect_status(200)(response):
            return problem
        try:
            body = response.json()
        except ValueError:
            return "MLflow answered with something that is not JSON"
        return None if isinstance(body, dict) else "unexpected MLflow response"

    url = base_url.rstrip("/") + "/api/2.0/mlflow/experiments/search"
    return _timed(lambda: httpx.post(url, json={"max_results": 1}, timeout=timeout), judge)


def jupyter_api(base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> ProbeResult:
    """An authenticated Jupyter call: proves the server runs and the token from .env works."""
    root = base_url.split("/lab")[0].rstrip("/")
    headers = {"Authorization": f"token {token}"}
    return _timed(
        lambda: httpx.get(root + "/api/status", headers=headers, timeout=timeout),
        _expect_status(200),
    )


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
