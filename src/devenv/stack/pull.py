"""The images `up` needs, each one cached here, pulled from the team's registry, or built.

Every image compose builds has a content tag (devenv.docker.builds): the same inputs give the
same tag on every machine. `up` looks for `<project>-<service>:<tag>` here first (cached),
then for `<IMAGE_REGISTRY>/<service>:<tag>` in the team's registry (pulled, with docker's own
login), and builds only what is left. A registry that is malformed, down, denies access or
lacks a tag never blocks work: one warning line, then a local build.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from devenv.core import http, services
from devenv.core.envfile import read_env
from devenv.core.errors import DevenvError, DockerCommandError, RegistryUnavailableError, shorten
from devenv.core.result import Result
from devenv.docker import builds
from devenv.docker.builds import BuildSpec
from devenv.docker.engine import Engine

SETTING = "IMAGE_REGISTRY"
RECORD = Path(".devenv") / "image-sources.json"
# host[:port] then lower-case path parts: what docker accepts as a repository prefix.
PREFIX = re.compile(
    r"(?P<host>[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(:[0-9]{1,5})?)"
    r"(/[a-z0-9]+([._-][a-z0-9]+)*)*\Z"
)
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
# Answers about the registry rather than one image: no point asking for the next image.
WHOLE_REGISTRY = ("denied access", "plain HTTP")

How = Literal["cached", "pulled", "built", "build"]  # build: still to be built


@dataclass
class ImagePlan:
    service: str  # the service that names the image (mlflow for mlflow, bucket-init, ...)
    image: str  # compose's name for it: <project>-<service>:local
    tag: str  # the content tag
    spec: BuildSpec = field(repr=False)
    how: How = "build"
    source: str | None = None  # registry reference it was pulled from
    digest: str | None = None
    size: int | None = None
    seconds: float = 0.0
    why: str | None = None  # why it was not pulled, when it could have been
    cache_from: list[str] = field(default_factory=list)  # the team's layer cache, to build

    @property
    def marker(self) -> str:
        """The local tag that says `image` was made from these inputs."""
        return f"{self.image.rpartition(':')[0] or self.image}:{self.tag}"

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found.pop("spec")
        return found


def registry_prefix(root: Path, env: dict[str, str]) -> str | None:
    """IMAGE_REGISTRY from .env, else from .env.example (where the team commits it)."""
    value = env.get(SETTING) or read_env(root / ".env.example").get(SETTING) or ""
    return value.strip().rstrip("/") or None


def check_prefix(prefix: str) -> str | None:
    """Why a registry prefix cannot be used, or None when it can."""
    if "://" in prefix:
        return f"{SETTING}={shorten(prefix)} has a scheme: docker names registries without one"
    if not PREFIX.match(prefix):
        return f"{SETTING}={shorten(prefix)} is not a registry name such as ghcr.io/acme/proj"
    return None


def reachable(prefix: str) -> str | None:
    """None when the registry answers (401 counts: docker logs in); else why not, at once,
    rather than after docker's own retries. Loopback speaks plain HTTP (docker's rule)."""
    host = prefix.split("/", 1)[0]
    scheme = "http" if host.split(":")[0] in LOOPBACK else "https"
    try:
        http.request(
            "GET",
            f"{scheme}://{host}/v2/",
            service=f"the team registry {host}",
            doing="answer",
            timeout=3,
            expect=tuple(range(200, 500)),
            error=RegistryUnavailableError,
        )
    except DevenvError as error:
        return error.message
    return None


def plans(engine: Engine, targets: set[str]) -> list[ImagePlan]:
    """One plan per image the target services build, named as `devenv images push` names it."""
    config = engine.config
    namer = {image: service for service, image in services.built_images(config).items()}
    found = []
    for spec in builds.specs(config, targets):
        service = namer.get(spec.image, spec.services[0])
        found.append(ImagePlan(service, spec.image, builds.content_tag(spec), spec))
    return found


def current(engine: Engine, found: list[ImagePlan]) -> bool:
    """Whether every image is already the one its inputs make (its content tag names it)."""
    ids = engine.image_ids([t for p in found for t in (p.image, p.marker)])
    return all(ids.get(p.marker) and ids.get(p.marker) == ids.get(p.image) for p in found)


def why_not_pulled(error: DockerCommandError, ref: str, prefix: str) -> str:
    """docker's reason, as one line a user can act on."""
    said = (error.stderr or error.message).lower()
    host = prefix.split("/", 1)[0]
    if any(w in said for w in ("manifest unknown", "name unknown", "not found")):
        return f"{ref} is not in the registry yet"
    if "no matching manifest" in said:
        return f"{ref} exists only for another architecture"
    if any(w in said for w in ("unauthorized", "denied", "authentication required", "403")):
        return f"{host} denied access to {ref} (docker login {host})"
    if "http response to https client" in said:
        return f"{host} speaks plain HTTP: add it to the engine's insecure-registries"
    if "blob unknown" in said or "unexpected eof" in said:
        return f"{ref} is incomplete in the registry (a partial push?)"
    return f"pulling {ref} failed: {error.message[-160:]}"


def settle(
    engine: Engine,
    found: list[ImagePlan],
    *,
    force_build: bool,
    offline: bool,
    warn: Callable[[str], None],
    on_pull: Callable[[ImagePlan], None],
) -> list[ImagePlan]:
    """Decide each image: cached (tagged here), pulled, or left to build (`how == "build"`).
    The registry is looked at only for what is not here, and only once found usable."""
    assert engine.project is not None
    if force_build:
        return found
    ids = engine.image_ids([t for p in found for t in (p.image, p.marker)])
    for plan in found:
        if ids.get(plan.marker):
            if ids.get(plan.image) != ids[plan.marker]:
                engine.image_tag(plan.marker, plan.image)
            plan.how = "cached"
    missing = [p for p in found if p.how == "build" and p.service not in services.LOCAL_ONLY]
    prefix = None if offline else registry_prefix(engine.project.root, engine.env)
    if not missing or not prefix:
        return found
    if problem := check_prefix(prefix) or reachable(prefix):
        warn(f"{problem}: building locally (fix {SETTING} in .env.example, or use --offline)")
        return found
    arch = str(engine.info.facts.get("Architecture") or "")
    for plan in missing:
        _pull(engine, plan, prefix, arch, warn=warn, on_pull=on_pull)
        if plan.why and any(sign in plan.why for sign in WHOLE_REGISTRY):
            break  # the same answer for every image: said once, everything built here
        if plan.how == "build":
            plan.cache_from = cache_sources(prefix, plan.service)
    return found


def cache_sources(prefix: str, service: str) -> list[str]:
    """Where a build finds the team's layers: CI's registry cache (every stage, `mode=max`)
    and the last image `devenv images push` tagged `dev` (its inline cache: final stage)."""
    return [f"type=registry,ref={prefix}/{service}:buildcache", f"{prefix}/{service}:dev"]


def cache_overlay(root: Path, found: list[ImagePlan]) -> Path | None:
    """A compose file adding each build's cache sources, for that build only; None: none."""
    chosen = {
        plan.service: {"build": {"cache_from": plan.cache_from}}
        for plan in found
        if plan.how == "build" and plan.cache_from
    }
    if not chosen:
        return None
    path = root / ".devenv" / "compose.build-cache.json"  # JSON is YAML: compose reads it
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"services": chosen}, indent=2) + "\n", encoding="utf-8")
    return path


def _pull(
    engine: Engine,
    plan: ImagePlan,
    prefix: str,
    arch: str,
    *,
    warn: Callable[[str], None],
    on_pull: Callable[[ImagePlan], None],
) -> None:
    ref = f"{prefix}/{plan.service}:{plan.tag}"
    plan.source = ref
    on_pull(plan)
    started = time.monotonic()
    try:
        engine.image_pull(ref)
    except DockerCommandError as error:
        plan.why = why_not_pulled(error, ref, prefix)
        if any(sign in plan.why for sign in WHOLE_REGISTRY):
            warn(f"{plan.why}: building every image locally")
        elif "not in the registry yet" not in plan.why:
            warn(f"{plan.why}; building {plan.service} locally")
        plan.source = None
        return
    facts = engine.image_facts(ref)
    if facts is None or not _same_arch(facts.architecture, arch):
        got = facts.architecture if facts else "nothing"
        plan.why = f"{ref} is built for {got}, this engine runs {arch}"
        warn(f"{plan.why}; building {plan.service} locally")
        engine.image_remove(ref)
        plan.source = None
        return
    repository = ref.rpartition(":")[0]
    plan.digest = next(
        (d.partition("@")[2] for d in facts.repo_digests if d.startswith(repository + "@")), None
    )
    engine.image_tag(ref, plan.image)
    engine.image_tag(ref, plan.marker)
    plan.how, plan.size, plan.seconds = "pulled", facts.size, time.monotonic() - started


def _same_arch(image: str, engine: str) -> bool:
    spelling = {"x86_64": "amd64", "aarch64": "arm64"}
    return spelling.get(engine, engine) == spelling.get(image, image)


def mark_built(engine: Engine, found: list[ImagePlan], seconds: float) -> None:
    """After a build: the content tag on each image built, so the next `up` finds it."""
    for plan in found:
        if plan.how == "build":
            engine.image_tag(plan.image, plan.marker)
            plan.how, plan.seconds = "built", seconds


def summary(found: list[ImagePlan]) -> str:
    """`images: 3 pulled (1.2 GB, 21 s), 1 built (80 s)`; empty when nothing builds."""
    parts = []
    for how in ("pulled", "built", "cached"):
        these = [p for p in found if p.how == how]
        if not these:
            continue
        seconds = max(p.seconds for p in these)  # builds share one compose build
        size = sum(p.size or 0 for p in these)
        extra = {
            "pulled": f" ({size / 1e9:.2f} GB, {sum(p.seconds for p in these):.0f} s)",
            "built": f" ({seconds:.0f} s)",
        }.get(how, "")
        parts.append(f"{len(these)} {how}{extra}")
    return "images: " + ", ".join(parts) if parts else ""


# ---------------------------------------------------------------- where each image came from


def remember(root: Path, found: list[ImagePlan], engine: Engine) -> None:
    """Keep, per image, where it came from (status and doctor show it); pulled and built
    images replace their entry, cached ones keep theirs."""
    path = root / RECORD
    record = read_sources(root)
    ids = engine.image_ids([p.image for p in found])
    for plan in found:
        if plan.how in ("pulled", "built") or plan.service not in record:
            entry = {
                k: v for k, v in plan.as_dict().items() if k in ("tag", "how", "source", "digest")
            }
            record[plan.service] = {**entry, "image": plan.image, "id": ids.get(plan.image)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_sources(root: Path) -> dict[str, dict[str, Any]]:
    path = root / RECORD
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def origins(engine: Engine, running: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Service -> where the image it runs came from: pulled (from where, which digest) or
    built here, as the last `up` recorded it. `running`: service -> the image ID its
    container runs; a container on another image than the one recorded gets nothing."""
    if engine.project is None:
        return {}
    record = read_sources(engine.project.root)
    by_image = {e.get("image"): e for e in record.values() if isinstance(e, dict)}
    found = {}
    for name, spec in (engine.config.get("services") or {}).items():
        entry = by_image.get(spec.get("image"))
        if entry and running.get(name) in (None, "", entry.get("id")):
            keep = ("how", "source", "digest", "tag")
            found[name] = {k: entry.get(k) for k in keep}
    return found


def check(engine: Engine) -> Result:
    """doctor's row: per image, pulled (and its digest) or built here; what `up` would do."""
    found = plans(engine, set(engine.config.get("services") or {}))
    record = read_sources(engine.project.root) if engine.project else {}
    ids = engine.image_ids([t for p in found for t in (p.image, p.marker)])
    parts, stale = [], []
    for plan in found:
        entry = record.get(plan.service) or {}
        if not ids.get(plan.image):
            parts.append(f"{plan.service} not here yet")
        elif ids.get(plan.marker) != ids.get(plan.image):
            stale.append(plan.service)
            parts.append(f"{plan.service} out of date")
        elif entry.get("how") == "pulled":
            parts.append(f"{plan.service} pulled ({str(entry.get('digest'))[:19]}…)")
        else:
            parts.append(f"{plan.service} built here")
    prefix = registry_prefix(engine.project.root, engine.env) if engine.project else None
    where = f"; registry {prefix}" if prefix else "; no team registry (IMAGE_REGISTRY)"
    return Result(
        "images",
        "warn" if stale else "ok",
        ", ".join(parts) + where,
        "devenv up makes them again (pulled when the registry has them)" if stale else None,
    )
