"""The canary gateway's Envoy admin API (loopback only): live weights, readiness, stats."""

from __future__ import annotations

from typing import Any

from devenv.core import http
from devenv.core.errors import DevenvError

SERVICE = "the canary gateway"


class Gateway:
    def __init__(self, admin_url: str, *, timeout: float = http.DEFAULT_TIMEOUT) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, **params: str) -> http.Response:
        return http.request(
            method,
            self.admin_url + path,
            service=SERVICE,
            doing=f"{method} {path}",
            timeout=self.timeout,
            hint="start it with: devenv canary start (devenv logs gateway shows why it stopped)",
            params=params,
        )

    def ready(self) -> bool:
        try:
            return self._request("GET", "/ready").text.strip() == "LIVE"
        except DevenvError:  # not answering yet, or not live yet
            return False

    def modify_runtime(self, values: dict[str, str]) -> None:
        """A runtime change: no reload, no dropped request."""
        self._request("POST", "/runtime_modify", **values)

    def runtime_value(self, key: str) -> str | None:
        body = http.json_body(self._request("GET", "/runtime"), service=SERVICE)
        entry = (body.get("entries") or {}).get(key) or {}
        value = entry.get("final_value")
        return None if value in (None, "") else str(value)

    def stats(self, pattern: str) -> dict[str, Any]:
        """Envoy's GET /stats?format=json, filtered by a regular expression."""
        found: dict[str, Any] = http.json_body(
            self._request("GET", "/stats", format="json", filter=pattern), service=SERVICE
        )
        return found
