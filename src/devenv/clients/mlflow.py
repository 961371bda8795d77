"""The one MLflow client: its REST API (experiments, runs, registered models, aliases), for the
status probe, smoke, the canary and onboarding alike. Over the HTTP door, so every failure is
one line naming MLflow, and every call has a timeout.

Real API calls on purpose: /health and /version skip both the database and MLflow's Host check
(which answers 403 to names it does not allow), so only a call like these proves MLflow works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devenv.core import http
from devenv.core.errors import DevenvError, StackUnhealthyError

SERVICE = "MLflow"
API = "/api/2.0/mlflow"
HINT = "devenv status mlflow shows it; devenv logs mlflow shows why"
LOGIN_HINT = (
    "MLflow keeps the admin password of its first start: put that one back in .env "
    "(MLFLOW_ADMIN_PASSWORD), or change it in MLflow (docs/security.md)"
)
Login = tuple[str, str]


def login(env: Mapping[str, str]) -> Login | None:
    """The admin login of .env that the stack's clients sign in with (compose.yaml's
    x-mlflow-login); None when MLflow's login is off or .env has no password."""
    if env.get("MLFLOW_AUTH", "basic").strip().lower() == "off":
        return None
    password = env.get("MLFLOW_ADMIN_PASSWORD", "")
    return (env.get("MLFLOW_ADMIN_USER") or "admin", password) if password else None


class MlflowClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = http.DEFAULT_TIMEOUT,
        error: type[DevenvError] = StackUnhealthyError,
        auth: Login | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.error = error
        self.auth = auth

    def _call(
        self, method: str, path: str, *, doing: str, expect: tuple[int, ...] = (200,), **kw: Any
    ) -> tuple[int, dict[str, Any]]:
        response = http.request(
            method,
            f"{self.url}{API}{path}",
            service=SERVICE,
            doing=doing,
            timeout=self.timeout,
            expect=(*expect, 401),
            error=self.error,
            hint=HINT,
            auth=self.auth,
            **kw,
        )
        if response.status_code == 401 and 401 not in expect:
            # The cause goes in the message itself: `status` shows only that, per service.
            if self.auth:
                cause, hint = f"the login of {self.auth[0]}", LOGIN_HINT
                why = "MLFLOW_ADMIN_PASSWORD in .env is not the password MLflow keeps"
            else:
                cause, why = "a request without a login", "set MLFLOW_ADMIN_PASSWORD in .env"
                hint = "MLflow's login is on (MLFLOW_AUTH=basic): devenv signs in with .env's admin"
            raise self.error(f"{SERVICE} refused {cause} (HTTP 401, {doing}): {why}", hint=hint)
        body = http.json_body(response, service=SERVICE, error=self.error)
        if not isinstance(body, dict):
            raise self.error(f"{SERVICE} answered {doing} with unexpected JSON", hint=HINT)
        return response.status_code, body

    def search_experiments(self, max_results: int = 1) -> list[dict[str, Any]]:
        """A call through the API and its database (the status probe)."""
        _, body = self._call(
            "POST",
            "/experiments/search",
            doing="search experiments",
            json={"max_results": max_results},
        )
        return list(body.get("experiments") or [])

    def run(self, run_id: str) -> dict[str, Any]:
        _, body = self._call(
            "GET", "/runs/get", doing=f"read run {run_id[:12]}", params={"run_id": run_id}
        )
        found: dict[str, Any] = body["run"]
        return found

    def alias_version(self, model: str, alias: str) -> str | None:
        """The version a registered model's alias points at; None when there is none."""
        status, body = self._call(
            "GET",
            "/registered-models/alias",
            doing=f"read the alias {alias} of {model}",
            expect=(200, 400, 404),
            params={"name": model, "alias": alias},
        )
        if status != 200:
            return None
        return str(body["model_version"]["version"])

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self._call(
            "POST",
            "/registered-models/alias",
            doing=f"move the alias {alias} of {model} to version {version}",
            json={"name": model, "alias": alias, "version": version},
        )
