"""The probe kinds, in one registry: what a `devenv.probe` label in compose.yaml may name.

Each kind says where its check runs (over HTTP from the host, or as a command inside a
container), how it checks, and what settings a client on the host needs to use the service
(`devenv env`). `devenv status` runs the checks, `devenv env` collects the settings, and the
template tests hold every label of every rendered project to this registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from devenv.clients.mlflow import login as mlflow_login
from devenv.core.services import Service, base
from devenv.docker.engine import Engine
from devenv.stack import health
from devenv.stack.health import ProbeResult

Check = Callable[[Engine, Service], "ProbeResult | None"]
Settings = Callable[[Service, dict[str, str]], dict[str, str]]


@dataclass(frozen=True)
class ProbeKind:
    name: str
    where: Literal["host", "container"]
    how: str  # the check in words, for whoever reads this registry
    check: Check
    settings: Settings = lambda _service, _env: {}


def _exec_probe(engine: Engine, service: Service, command: list[str]) -> ProbeResult:
    """A probe that runs inside a container (no database or S3 client needed on the host)."""
    started = time.perf_counter()
    result = engine.exec(service.probe_in or service.name, command)
    elapsed = (time.perf_counter() - started) * 1000
    if not result.ok:
        return ProbeResult(False, result.last_line(), elapsed)
    return ProbeResult(True, result.stdout.strip()[:80] or "ok", elapsed)


def _postgres(engine: Engine, service: Service) -> ProbeResult:
    sql = 'psql -U "$POSTGRES_USER" -d "$MLFLOW_DB_NAME" -tAc "select 1"'
    return _exec_probe(engine, service, ["sh", "-c", sql])


# Where the S3 client and credentials live (the MLflow container): list the bucket.
S3_LIST = (
    "import os, boto3; s3 = boto3.client('s3', endpoint_url="
    "os.environ['MLFLOW_S3_ENDPOINT_URL'], region_name='us-east-1'); "
    "print(s3.list_objects_v2(Bucket=os.environ['MLFLOW_ARTIFACTS_DESTINATION']"
    ".split('/')[2], MaxKeys=1)['KeyCount'], 'objects listed')"
)


def _s3(engine: Engine, service: Service) -> ProbeResult:
    return _exec_probe(engine, service, ["python", "-c", S3_LIST])


def _url_check(path: str, service_name: str) -> Check:
    def check(_engine: Engine, service: Service) -> ProbeResult | None:
        return (
            health.http_ok(base(service.url) + path, service=service_name) if service.url else None
        )

    return check


def _gateway(_engine: Engine, service: Service) -> ProbeResult | None:
    if not service.admin:
        return None
    return health.http_ok(base(service.admin) + "/ready", service="the canary gateway")


def _mlflow_settings(service: Service, env: dict[str, str]) -> dict[str, str]:
    # The server advertises multipart transfers through presigned URLs that name the object
    # store by its in-network host (objectstore:8333): unreachable from the host, where the
    # client would retry for minutes. Proxied transfers through MLflow work.
    settings = {
        "MLFLOW_TRACKING_URI": base(service.url or ""),
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false",
    }
    # MLflow's clients read their login from these two (the password only with --show-secrets).
    if signed_in := mlflow_login(env):
        settings["MLFLOW_TRACKING_USERNAME"], settings["MLFLOW_TRACKING_PASSWORD"] = signed_in
    return settings


def _s3_settings(service: Service, env: dict[str, str]) -> dict[str, str]:
    endpoint = base(service.url or "")
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": env.get("S3_ACCESS_KEY", ""),
        "AWS_SECRET_ACCESS_KEY": env.get("S3_SECRET_KEY", ""),
    }


def _postgres_settings(service: Service, env: dict[str, str]) -> dict[str, str]:
    url = urlsplit(service.url or "")
    password = quote(env.get("MLFLOW_DB_PASSWORD", ""), safe="")
    user, _, host = url.netloc.rpartition("@")
    return {"DATABASE_URL": urlunsplit(url._replace(netloc=f"{user}:{password}@{host}"))}


KINDS: dict[str, ProbeKind] = {
    kind.name: kind
    for kind in (
        ProbeKind(
            "mlflow",
            "host",
            "an MLflow REST query",
            lambda e, s: health.mlflow_api(base(s.url or ""), auth=mlflow_login(e.env)),
            _mlflow_settings,
        ),
        ProbeKind("s3", "container", "a bucket listing with boto3", _s3, _s3_settings),
        ProbeKind(
            "postgres",
            "container",
            "SELECT 1 in MLflow's database",
            _postgres,
            _postgres_settings,
        ),
        ProbeKind(
            "jupyter",
            "host",
            "Jupyter's API with the token",
            lambda e, s: health.jupyter_api(base(s.url or ""), e.env.get("JUPYTER_TOKEN", "")),
            lambda s, env: {
                "JUPYTER_URL": s.url or "",
                "JUPYTER_TOKEN": env.get("JUPYTER_TOKEN", ""),
            },
        ),
        ProbeKind(
            "serving",
            "host",
            "the serving API's /health",
            _url_check("/health", "the serving API"),
            lambda s, _env: {"SERVING_URL": base(s.url or "")},
        ),
        ProbeKind("gateway", "host", "Envoy's /ready on its admin port", _gateway),
        ProbeKind(
            "registry", "host", "the Distribution API's /v2/", _url_check("/v2/", "the registry")
        ),
    )
}


def probe(engine: Engine, service: Service) -> ProbeResult | None:
    """The check named by the service's `devenv.probe` label (None: no probe, or none known)."""
    kind = KINDS.get(service.probe or "")
    return kind.check(engine, service) if kind else None
