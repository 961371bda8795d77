"""Kubernetes: the project's `k8s/` Kustomize overlays, rendered.

render writes what must not live in git (secrets and settings from .env, the training code, the
canary split from the same spec as the Compose gateway) under `k8s/`, then builds an overlay
with `kubectl kustomize`. devenv.release.k8s.validate checks the result offline;
devenv.release.k8s.cluster applies it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.core import envfile, outputs, proc, services
from devenv.core.errors import UsageError, ValidationFailedError
from devenv.core.project import Project
from devenv.release.canary import envoy
from devenv.release.canary import spec as canary

K8S_VERSION = "1.35.0"  # the schemas validate checks against (kubernetes-validate ships them)
# Mesh objects: no built-in schema; their CRD schemas validate them (crd.mjs).
MESH_KINDS = {
    "HTTPRoute": "gateway.networking.k8s.io/v1",
    "VirtualService": "networking.istio.io/v1",
    "DestinationRule": "networking.istio.io/v1",
}
# .env keys the cluster reads. Secrets by the one rule (envfile.is_secret) go to a Secret, the
# rest to a ConfigMap; the database user rides in the Secret with its password (a credential pair).
CLUSTER_KEYS = (
    "MLFLOW_DB_NAME",
    "MLFLOW_BUCKET",
    "MODEL_NAME",
    "MODEL_ALIAS",
    "CANARY_ALIAS",
    "MLFLOW_DB_USER",
    "MLFLOW_DB_PASSWORD",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "MLFLOW_ADMIN_USER",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_SECRET_KEY",
)
CREDENTIAL_PAIRED = frozenset({"MLFLOW_DB_USER", "MLFLOW_ADMIN_USER"})
SECRETS = tuple(k for k in CLUSTER_KEYS if envfile.is_secret(k) or k in CREDENTIAL_PAIRED)
SETTINGS = tuple(k for k in CLUSTER_KEYS if k not in SECRETS)
# The overlay that runs the whole platform in the cluster, from this machine's .env.
LOCAL = "local"
TRIVY_SEVERITY = "HIGH,CRITICAL"


@dataclass(frozen=True)
class Rendered:
    overlay: str
    text: str
    docs: list[dict[str, Any]]


def k8s_dir(project: Project) -> Path:
    path = project.root / "k8s"
    if not (path / "base" / "kustomization.yaml").is_file():
        raise UsageError(
            "this project has no k8s/ folder",
            hint="devenv update brings the template's Kubernetes manifests in",
        )
    return path


def overlays(project: Project) -> list[str]:
    root = k8s_dir(project) / "overlays"
    return sorted(p.parent.name for p in root.glob("*/kustomization.yaml"))


def overlay_dir(project: Project, overlay: str) -> Path:
    known = overlays(project)
    if overlay not in known:
        raise UsageError(
            f"no overlay {overlay!r} in k8s/overlays",
            hint=f"pick one of: {', '.join(known)}",
        )
    return k8s_dir(project) / "overlays" / overlay


def kubectl() -> str:
    return proc.find(
        "kubectl", hint="pip install 'ml-devenv[k8s]' (ships kubectl), or install kubectl"
    )


def name_of(doc: dict[str, Any]) -> str:
    """Kind/name, as messages about an object say it."""
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def generate(project: Project) -> list[Path]:
    """Write the git-ignored inputs the overlays build from; the paths written. Everything
    that can refuse (a missing secret, a bad canary spec, no training package) runs first."""
    root = k8s_dir(project)
    env = envfile.read_env(project.root / ".env")
    local = root / "overlays" / LOCAL
    missing = [key for key in SECRETS if not env.get(key)]
    if local.is_dir() and missing:
        raise UsageError(
            f".env has no {', '.join(missing)}: the local overlay's Secret needs them",
            hint="devenv update adds missing keys to .env (compare with .env.example)",
        )
    serving = (root / "base" / "serving.yaml").is_file()
    spec = canary.CanarySpec.from_env(env) if serving else None
    package = _package(project)

    written: list[Path] = []
    generated = root / "base" / "generated"
    generated.mkdir(parents=True, exist_ok=True)
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [],
    }
    if package is not None:
        code = generated / "code"
        if code.exists():
            shutil.rmtree(code)
        code.mkdir()
        for source in sorted(package.glob("*.py")):
            shutil.copyfile(source, code / source.name)
        files = [f"code/{p.name}" for p in sorted(code.glob("*.py"))]
        kustomization["configMapGenerator"] = [{"name": "training-code", "files": files}]
    if spec is not None:
        _write(generated / "canary.yaml", _dump_all(envoy.mesh_objects(spec)), written)
        kustomization["resources"].append("canary.yaml")
    _write(generated / "kustomization.yaml", _dump_all([kustomization]), written)
    if local.is_dir():
        settings = "".join(f"{k}={env[k]}\n" for k in SETTINGS if env.get(k))
        _write(local / "platform.env", settings, written)
        envfile.write_private(
            local / "secrets.env", "".join(f"{k}={env[k]}\n" for k in SECRETS), replace=True
        )
        written.append(local / "secrets.env")
    return written


def _package(project: Project) -> Path | None:
    """src/<package>: the training code the Job runs (None when the project has no Job)."""
    if not (k8s_dir(project) / "base" / "train-job.yaml").is_file():
        return None
    packages = [p.parent for p in (project.root / "src").glob("*/train.py")]
    if len(packages) != 1:
        raise UsageError(
            "the training Job needs exactly one src/<package>/train.py",
            hint="the Job runs python -m <package>.train; keep one package with a train.py",
        )
    return packages[0]


def _write(path: Path, text: str, written: list[Path]) -> None:
    path.write_text(text, encoding="utf-8")
    written.append(path)


def _dump_all(docs: list[dict[str, Any]]) -> str:
    import yaml

    header = "# Generated by devenv k8s render from .env and src/: edit those, not this.\n"
    return header + yaml.safe_dump_all(docs, sort_keys=False)


def render(project: Project, overlay: str) -> Rendered:
    """Generate the inputs, then `kubectl kustomize` the overlay."""
    import yaml

    folder = overlay_dir(project, overlay)
    generate(project)
    done = proc.run([kubectl(), "kustomize", str(folder)], timeout=120, what="kubectl kustomize")
    if not done.ok:
        first = done.last_line()
        raise ValidationFailedError(
            f"kustomize could not build overlay {overlay}: {first}",
            hint=f"kubectl kustomize {folder.relative_to(project.root)} shows the whole error",
        )
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return Rendered(overlay=overlay, text=done.stdout, docs=docs)


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
    return [d for d in docs if d.get("kind") in kinds]


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = doc.get("spec", {}).get("template", {})
    return template


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod(doc).get("spec", {}).get("containers", []))


def compose_images(project: Project) -> set[str]:
    """The names compose.yaml gives the images it builds, project name resolved."""
    import yaml

    # Read from the file, not `docker compose config`: validate runs where no docker CLI is.
    compose = yaml.safe_load((project.root / "compose.yaml").read_text(encoding="utf-8"))
    env = envfile.read_env(project.root / ".env")
    for spec in (compose.get("services") or {}).values():
        if isinstance(spec.get("image"), str):
            spec["image"] = _expand(spec["image"], env)
    return {image.rsplit(":", 1)[0] for image in services.built_images(compose).values()}


def _expand(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return env.get(match.group(1)) or match.group(2) or ""

    return re.sub(r"\$\{(\w+):?-([^}]*)\}", one, text)


def write(rendered: Rendered, path: Path) -> int:
    """`render -o FILE`: the objects written to a file; how many. Whole or not at all, and
    private (0600) when a Secret is among them, as secrets.env is."""
    secret = any(doc.get("kind") == "Secret" for doc in rendered.docs)
    outputs.write(path, rendered.text, private=secret)
    return len(rendered.docs)
