"""`devenv doctor`: preflight checks for a machine and (when inside one) a project.

Each check is ok / warn / fail with one line and a fix. Nothing here changes anything. The
report bundle for bug reports is redacted: no value from the project's .env survives in it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from devenv import __version__
from devenv.core import envfile, outputs, proc
from devenv.core.envfile import read_env
from devenv.core.errors import DevenvError, DoctorFailedError
from devenv.core.project import Project
from devenv.core.result import Result, from_error
from devenv.docker import compose, gpu
from devenv.docker.engine import Engine
from devenv.docker.records import EngineInfo
from devenv.stack import platforms, preflight, pull

GIB = 1 << 30
# Rough sizes of what a project builds (images + build cache); CUDA torch adds several GB.
IMAGES_GB_CPU = 6
IMAGES_GB_GPU = 15
# Outside a project: the default stack's service names (inside one, compose's own list).
SERVICE_NAMES = ("postgres", "objectstore", "mlflow", "jupyter", "serving")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


def _version_tuple(text: str) -> tuple[int, ...]:
    parsed = compose.parse_version(text)
    if parsed:
        return parsed
    digits = [int(p) for p in text.replace("+", ".").split(".")[:2] if p.isdigit()]
    return tuple(digits)


def check_engine(version_text: str | None) -> Result:
    if version_text is None:
        return Result(
            "docker engine",
            "fail",
            "the Docker engine is not answering",
            "start Docker; check DOCKER_HOST if you set it",
        )
    version = _version_tuple(version_text)
    if version and version[0] < 25:
        return Result(
            "docker engine",
            "warn",
            f"Docker Engine {version_text}: older than 25 (no healthcheck "
            "start_interval; published ports reachable from the local network)",
            "upgrade Docker Engine to 28 or newer",
        )
    if version and version[0] < 28:
        return Result(
            "docker engine",
            "warn",
            f"Docker Engine {version_text}: before 28, ports published on 127.0.0.1 "
            "can be reached from other hosts on the local network",
            "upgrade Docker Engine to 28 or newer",
        )
    return Result("docker engine", "ok", f"Docker Engine {version_text}")


def check_resources(
    info: dict[str, Any], *, gpu_project: bool, services: tuple[str, ...] = SERVICE_NAMES
) -> list[Result]:
    where_runs = f"{platforms.runtime_name(info)} on {info.get('OperatingSystem', '?')}"
    checks = [Result("runtime", "ok", where_runs)]
    root = Path(str(info.get("DockerRootDir") or "/"))
    where = root if root.exists() else Path("/")
    free = shutil.disk_usage(where).free / GIB
    need = IMAGES_GB_GPU if gpu_project else IMAGES_GB_CPU
    checks.append(
        Result(
            "disk",
            "ok" if free >= need * 2 else "warn" if free >= need else "fail",
            f"{free:.0f} GB free at {where} (the stack's images need about {need} GB)",
            None
            if free >= need * 2
            else "free disk space (docker system prune removes unused images)",
        )
    )
    arch = str(info.get("Architecture") or platform.machine())
    arm = arch in ("aarch64", "arm64")
    checks.append(
        Result(
            "cpu architecture",
            "ok",
            f"{arch}"
            + (
                ": images build natively; CUDA needs an NVIDIA arm64 server (e.g. Grace Hopper)"
                if arm
                else ""
            ),
        )
    )
    return [*checks, *platforms.check_engine_resources(info, services)]


def check_proxy(env: dict[str, str]) -> Result:
    """The host side: devenv's own calls to localhost must skip the proxy. The containers get
    the stack's service names added to NO_PROXY by compose.yaml."""
    proxies = [k for k in PROXY_VARS if env.get(k)]
    if not proxies:
        return Result("proxy", "ok", "no HTTP(S) proxy set")
    no_proxy = {p.strip() for p in (env.get("NO_PROXY") or env.get("no_proxy") or "").split(",")}
    missing = [n for n in ("localhost", "127.0.0.1") if n not in no_proxy]
    if missing:
        return Result(
            "proxy",
            "warn",
            f"{proxies[0]} is set but NO_PROXY lacks {', '.join(missing)}",
            "add them to NO_PROXY so devenv's checks of the local stack skip the proxy",
        )
    return Result(
        "proxy", "ok", f"{proxies[0]} set; builds and services use it, minus the stack's names"
    )


def check_ca(root: Path, project_env: dict[str, str], env: dict[str, str]) -> Result:
    found = preflight.check_extra_ca(root, project_env, env)
    if found.failed or project_env.get("EXTRA_CA_CERTS") or env.get("EXTRA_CA_CERTS"):
        return found
    if any(env.get(k) for k in PROXY_VARS):
        return Result(
            "ca bundle",
            "warn",
            "a proxy is set but no EXTRA_CA_CERTS",
            "if the proxy intercepts TLS, set EXTRA_CA_CERTS in .env (docs/corporate-networks.md)",
        )
    return found


def check_git() -> Result:
    if proc.which("git"):
        return Result("git", "ok", "git is installed")
    return Result("git", "warn", "git is not installed (devenv update needs it)", "install git")


def check_answers(project: Project) -> Result:
    """The answers file: what `devenv update` and the k8s overlays read the project from."""
    try:
        answers = project.answers()
    except DevenvError as error:
        return from_error("answers", error)
    if "_src_path" not in answers:
        return Result(
            "answers",
            "warn",
            f"{project.answers_path.name} does not say which template made the project",
            "restore it from git (git checkout -- .copier-answers.yml), or pass devenv update "
            "--template SRC",
        )
    return Result("answers", "ok", f"{len(answers)} answers, template {answers['_src_path']}")


def check_project_files(project: Project) -> list[Result]:
    checks = [preflight.check_conflicts(project), check_answers(project)]
    env_path, example = project.root / ".env", project.root / ".env.example"
    if not env_path.is_file():
        if example.is_file():
            checks.append(
                Result(
                    ".env",
                    "warn",
                    ".env is missing (a fresh clone: it is git-ignored)",
                    "devenv up (or devenv onboard) creates it from .env.example with fresh secrets",
                )
            )
        else:
            checks.append(
                Result(
                    ".env",
                    "fail",
                    ".env and .env.example are both missing",
                    "restore .env.example from git (git checkout -- .env.example)",
                )
            )
        return checks
    env = read_env(env_path)
    missing = sorted(set(read_env(example)) - set(env)) if example.is_file() else []
    placeholders = sorted(k for k, v in env.items() if v == envfile.PLACEHOLDER)
    what = [f"missing {', '.join(missing)} (new in .env.example)"] if missing else []
    what += [f"still {envfile.PLACEHOLDER}: {', '.join(placeholders)}"] if placeholders else []
    if placeholders:
        fix = (
            f"replace each {envfile.PLACEHOLDER} with a secret of [A-Za-z0-9_-] (or delete the "
            "line: devenv up adds it with a fresh one)"
        )
        checks.append(Result(".env", "fail", "; ".join(what), fix))
    elif missing:
        fix = "devenv up adds them from .env.example; your values are kept"
        checks.append(Result(".env", "warn", "; ".join(what), fix))
    else:
        checks.append(Result(".env", "ok", f"{len(env)} settings, none missing"))
    if env_path.stat().st_mode & 0o077:
        checks.append(
            Result(
                ".env permissions",
                "warn",
                f".env is readable by other users (mode {env_path.stat().st_mode & 0o777:o})",
                "chmod 600 .env (devenv up does it too)",
            )
        )
    return checks


def run(
    project: Project | None, env: dict[str, str] | None = None, engine: Engine | None = None
) -> list[Result]:
    """All checks; the Docker ones degrade to a single failure when the engine is down. The
    compose, conflict and port checks are the ones `devenv up` stops on (preflight)."""
    env = dict(os.environ) if env is None else env
    engine = engine or Engine(project)
    checks: list[Result] = []
    info: EngineInfo | None = None
    try:
        info = engine.info if engine.responds() else None
        checks.append(check_engine(info.server_version if info else None))
    except DevenvError as error:  # no docker CLI, a malformed DOCKER_HOST
        checks.append(from_error("docker engine", error))
    checks.append(compose.check_version(engine.compose_version))
    here = platforms.describe(info.facts if info else None)
    checks.insert(0, Result("platform", "ok", here.line()))
    project_env = engine.env if project else {}
    gpu_project = bool(project and (project.root / "compose.gpu.yaml").is_file())
    # Without .env (a fresh clone) compose cannot resolve the project yet; `devenv up` makes
    # .env first and checks the ports itself.
    config: dict[str, Any] | None = None
    config_error: Result | None = None
    if project is not None and (project.root / ".env").is_file():
        try:
            config = engine.config
        except DevenvError as error:
            config_error = from_error("compose file", error)
    names = tuple(config["services"]) if config else SERVICE_NAMES
    if info is not None:
        checks += check_resources(info.facts, gpu_project=gpu_project, services=names)
        layers = gpu.layers(info.facts, project_env.get("TORCH_INDEX_URL"))
        failing = gpu.problems(layers)
        checks.append(
            Result(
                "gpu",
                "ok" if not failing else "warn",
                layers[0].detail
                if not failing
                else f"CPU only: {'; '.join(layer.detail for layer in failing)}",
                failing[0].fix if failing else None,
            )
        )
    root = project.root if project else Path.cwd()
    checks += [check_proxy(env), check_ca(root, project_env, env), check_git()]
    if project is not None:
        checks += check_project_files(project)
        checks.append(platforms.check_line_endings(project.root))
        located = platforms.check_wsl_location(project.root, wsl=here.wsl)
        checks += [located] if located else []
        if config_error is not None:
            checks.append(config_error)
        elif config is not None:
            checks.append(preflight.check_mlflow_login(config))
        if info is not None:
            checks.append(preflight.check_env_opens_data(engine))
        if config is not None and info is not None:
            checks.append(preflight.check_published_ports(engine))
            checks.append(pull.check(engine))
    return checks


def describe_platform(engine: Engine) -> platforms.Platform:
    """The one-line platform, with the engine's own figures when it answers."""
    try:
        info = engine.info.facts if engine.responds() else None
    except DevenvError:
        info = None
    return platforms.describe(info)


def failure(checks: list[Result]) -> DoctorFailedError | None:
    """One error for every failed check (each has its own fix in the table)."""
    failed = [c.name for c in checks if c.failed]
    if not failed:
        return None
    return DoctorFailedError(
        f"{len(failed)} check(s) failed: {', '.join(failed)}",
        hint="apply the fixes above, then run devenv doctor again",
    )


def secret_values(env: dict[str, str]) -> list[str]:
    """Values of secret-looking keys, and any long value (generated secrets are 20+ chars)."""
    return [v for k, v in env.items() if v and (envfile.is_secret(k) or len(v) >= 20)]


def _config_secrets(config: Any) -> list[str]:
    """Secret-looking values in a resolved compose configuration: what compose really used,
    whether it came from .env, quoted, or from the shell environment."""
    found: list[str] = []
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(value, str) and envfile.is_secret(str(key)) and value:
                found.append(value)
            else:
                found += _config_secrets(value)
    elif isinstance(config, list):
        for item in config:
            found += _config_secrets(item)
    return found


def redact(value: Any, secrets: list[str]) -> Any:
    """Replace every secret inside every string of a JSON-like structure."""
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, "<redacted>")
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


def report(
    project: Project | None,
    checks: list[Result],
    path: Path,
    env: dict[str, str] | None = None,
    engine: Engine | None = None,
) -> Path:
    """A diagnostic bundle for bug reports: no secret may appear in it."""
    project_env = read_env(project.root / ".env") if project else {}
    shell = dict(os.environ) if env is None else env
    bundle: dict[str, Any] = {
        "devenv": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "checks": [c.as_dict() for c in checks],
        "env_keys": sorted(project_env),
        "answers": {k: v for k, v in (project.answers() if project else {}).items()},
    }
    if project is not None:
        try:
            bundle["compose_config"] = (engine or Engine(project)).config
        except DevenvError as error:
            bundle["compose_config_error"] = error.message
    # Compose lets the shell override .env: those values are redacted too.
    overridden = {k: v for k, v in shell.items() if k in project_env}
    secrets = [
        *secret_values(project_env),
        *secret_values(overridden),
        *_config_secrets(bundle.get("compose_config")),
    ]
    clean = redact(json.loads(json.dumps(bundle, default=str)), secrets)
    target = path.expanduser()
    outputs.write(target, json.dumps(clean, indent=2) + "\n", private=True)
    return target
