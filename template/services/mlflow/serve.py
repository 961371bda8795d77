"""Start the MLflow server, behind MLflow's own login unless MLFLOW_AUTH=off.

    python /app/serve.py --host=0.0.0.0 --port=5000 ...   # the arguments of `mlflow server`

MLflow's basic-auth app reads one setting only from a file: where its users live. They live in
MLflow's own database (tables of their own, migrated under `alembic_version_auth`), so backups
of that database carry them. The file is written to /tmp at every start: the root filesystem
may be read-only (Kubernetes). The admin is created on the first start from
MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD; later changes of those variables do not change it.

With MLFLOW_S3_PUBLIC_URL set (compose.yaml: the object store's address on the host), the
server signs its presigned URLs for that address, so a client on the host with nothing but the
tracking URI downloads what it is sent to (MLflow 3 sends clients straight to the object store
whenever the server can presign). The server's own S3 calls reach the same address inside this
container through a small TCP relay to the real endpoint; this process supervises both.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
from urllib.parse import urlsplit

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


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still be answering
    except OSError:
        writer.close()


async def _relay(
    target: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
    except OSError:
        writer.close()
        return
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
    upstream_writer.close()
    writer.close()


def start_relay(port: int, target: tuple[str, int]) -> None:
    """Relay 127.0.0.1:port to target, in a daemon thread; raises OSError if port is taken."""
    loop = asyncio.new_event_loop()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _relay(target, reader, writer)

    loop.run_until_complete(asyncio.start_server(serve, "127.0.0.1", port))
    threading.Thread(target=loop.run_forever, name="s3-relay", daemon=True).start()


def public_s3(public: str, internal: str) -> tuple[int, tuple[str, int]]:
    """The relay's port and target for MLFLOW_S3_PUBLIC_URL and MLflow's own S3 endpoint."""
    outside, inside = urlsplit(public), urlsplit(internal)
    if outside.hostname not in ("127.0.0.1", "localhost") or not outside.port:
        sys.exit(f"MLFLOW_S3_PUBLIC_URL={public!r} must be http://127.0.0.1:PORT")
    if not inside.hostname:
        sys.exit(f"MLFLOW_S3_ENDPOINT_URL={internal!r} has no host")
    return outside.port, (inside.hostname, inside.port or 80)


def supervise(command: list[str]) -> None:
    """Run MLflow as a child (the relay lives in this process) and exit with it."""
    child = subprocess.Popen(command)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: child.send_signal(number))
    sys.exit(child.wait())


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
    public = os.environ.get("MLFLOW_S3_PUBLIC_URL", "").strip()
    if not public:
        os.execvp(command[0], command)
    port, target = public_s3(public, os.environ.get("MLFLOW_S3_ENDPOINT_URL", ""))
    if f"--port={port}" in args:
        sys.exit(f"S3_PORT={port} is MLflow's own port in its container: choose another in .env")
    try:
        start_relay(port, target)
    except OSError as error:
        sys.exit(f"cannot relay {public} to the object store: {error}")
    os.environ["MLFLOW_S3_ENDPOINT_URL"] = public
    print(f"presigned URLs name {public} (relayed to {target[0]}:{target[1]})", file=sys.stderr)
    supervise(command)


if __name__ == "__main__":
    main(sys.argv[1:])
