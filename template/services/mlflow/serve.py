"""Start the MLflow server, behind MLflow's own login unless MLFLOW_AUTH=off.

    python /app/serve.py --host=0.0.0.0 --port=5000 ...   # the arguments of `mlflow server`

MLflow's basic-auth app reads one setting only from a file: where its users live. They live in
MLflow's own database (tables of their own, migrated under `alembic_version_auth`), so backups
of that database carry them. The file is written to /tmp at every start: the root filesystem
may be read-only (Kubernetes). The admin is created on the first start from
MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD; later changes of those variables do not change it.
"""

import os
import sys

MODES = ("basic", "off")


def auth_config(
    database_uri: str, path: str = "/tmp/mlflow-basic-auth.ini", cache_seconds: int = 60
) -> str:
    # MLflow reads the file with configparser's interpolation: '%' must be doubled.
    text = (
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {database_uri.replace('%', '%%')}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # A checked password is remembered for a minute per worker: without it every request
        # pays a PBKDF2 hash (docs/benchmarks.md). A password changed through MLflow's API may
        # still work on the other worker for up to that minute.
        f"auth_cache_ttl_seconds = {cache_seconds}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def main(args: list[str]) -> None:
    mode = os.environ.get("MLFLOW_AUTH", "basic").strip().lower() or "basic"
    if mode not in MODES:
        sys.exit(f"MLFLOW_AUTH={mode!r} is not one of {', '.join(MODES)} (set it in .env)")
    command = ["mlflow", "server", *args]
    if mode == "basic":
        for needed in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
            if not os.environ.get(needed):
                sys.exit(f"{needed} is empty: MLflow's login needs it (set it in .env)")
        if len(os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"]) < 12:  # MLflow's own password policy
            sys.exit("MLFLOW_ADMIN_PASSWORD (.env) has fewer than 12 characters: MLflow refuses it")
        cache = int(os.environ.get("MLFLOW_AUTH_CACHE_SECONDS") or 60)
        uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
        os.environ["MLFLOW_AUTH_CONFIG_PATH"] = auth_config(uri, cache_seconds=cache)
        command += ["--app-name", "basic-auth"]
    print(f"mlflow login: {mode}", file=sys.stderr, flush=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
