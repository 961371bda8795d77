"""What schema validators cannot see: the objects of an overlay agree with each other and with
the project (selectors, named ports, references, probe paths, images, Jobs, canary weights)."""

from __future__ import annotations

import re
from typing import Any

from devenv.core.errors import ValidationFailedError
from devenv.core.project import Project
from devenv.core.result import Result
from devenv.release.canary import spec as canary
from devenv.release.k8s.render import compose_images, containers, name_of, pod, workloads

# ---------------------------------------------------------------- our own checks


def verdict(name: str, problems: list[str], ok_detail: str, **data: Any) -> Result:
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
    return verdict(
        "semantics",
        problems,
        "selectors, ports, references, probes, images, Jobs and canary weights agree",
    )


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def selectors_match(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    pods = workloads(docs)
    for doc in pods:
        if doc["kind"] == "Job":
            continue
        selector = doc.get("spec", {}).get("selector", {}).get("matchLabels", {})
        if not _matches(selector, pod(doc).get("metadata", {}).get("labels", {})):
            problems.append(f"{name_of(doc)}: spec.selector does not match its pod labels")
    for service in (d for d in docs if d.get("kind") == "Service"):
        selector = service.get("spec", {}).get("selector", {})
        if not any(_matches(selector, pod(w).get("metadata", {}).get("labels", {})) for w in pods):
            problems.append(f"{name_of(service)}: selects no pod ({selector})")
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
                    problems.append(f"{name_of(doc)}: {kind} uses port {port!r}, not declared")
    for service in (d for d in docs if d.get("kind") == "Service"):
        selector = service.get("spec", {}).get("selector", {})
        selected = [
            w for w in pods if _matches(selector, pod(w).get("metadata", {}).get("labels", {}))
        ]
        for port in service.get("spec", {}).get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str) and not any(
                target in {p.get("name") for c in containers(w) for p in c.get("ports", [])}
                for w in selected
            ):
                problems.append(f"{name_of(service)}: targetPort {target!r} is no pod's port")
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
                            f"{name_of(doc)}: env {env['name']}: no ConfigMap {ref.get('name')}"
                        )
                    elif keys is not None and ref.get("key") not in keys:
                        problems.append(
                            f"{name_of(doc)}: env {env['name']}: {kind} "
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
        if pod(doc).get("metadata", {}).get("labels", {}).get("app.kubernetes.io/name") != (
            "serving"
        ):
            continue
        for container in containers(doc):
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                path = ((container.get(kind) or {}).get("httpGet") or {}).get("path")
                if path and path not in routes:
                    problems.append(
                        f"{name_of(doc)}: {kind} path {path} is not a route of "
                        "services/serving/app/main.py"
                    )
    return problems


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
                    f"{name_of(doc)}: image {image} is not what compose builds "
                    f"({', '.join(sorted(built))})"
                )
    return problems


def jobs_are_bounded(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for doc in (d for d in docs if d.get("kind") == "Job"):
        spec = doc.get("spec", {})
        policy = pod(doc).get("spec", {}).get("restartPolicy")
        if policy not in {"Never", "OnFailure"}:
            problems.append(f"{name_of(doc)}: restartPolicy must be Never or OnFailure")
        if spec.get("backoffLimit") is None:
            problems.append(f"{name_of(doc)}: no backoffLimit (a failing Job retries 6 times)")
    return problems


def canary_agrees(docs: list[dict[str, Any]], spec: canary.CanarySpec) -> list[str]:
    """Mesh weights equal the spec's; every subset and backend exists."""
    problems = []
    service_names = {d["metadata"]["name"] for d in docs if d.get("kind") == "Service"}
    pod_labels = [pod(w).get("metadata", {}).get("labels", {}) for w in workloads(docs)]
    for doc in docs:
        kind = doc.get("kind")
        if kind == "HTTPRoute":
            for rule in doc["spec"].get("rules", []):
                refs = rule.get("backendRefs", [])
                for ref in refs:
                    if ref["name"] not in service_names:
                        problems.append(f"{name_of(doc)}: backend {ref['name']} is no Service")
                if len(refs) > 1:
                    got = {r["name"].rsplit("-", 1)[-1]: r.get("weight", 1) for r in refs}
                    if got != spec.weights:
                        problems.append(
                            f"{name_of(doc)}: weights {got} differ from the canary "
                            f"spec {spec.weights} (CANARY_PERCENT in .env)"
                        )
        elif kind == "VirtualService":
            for route in doc["spec"].get("http", []):
                legs = route.get("route", [])
                if len(legs) > 1:
                    got = {r["destination"]["subset"]: r.get("weight", 0) for r in legs}
                    if got != spec.weights:
                        problems.append(
                            f"{name_of(doc)}: weights {got} differ from the canary "
                            f"spec {spec.weights}"
                        )
        elif kind == "DestinationRule":
            host = doc["spec"]["host"]
            if host not in service_names:
                problems.append(f"{name_of(doc)}: host {host} is no Service")
            for subset in doc["spec"].get("subsets", []):
                if not any(_matches(subset.get("labels", {}), labels) for labels in pod_labels):
                    problems.append(f"{name_of(doc)}: subset {subset['name']} selects no pod")
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
                    problems.append(f"{name_of(doc)}: subset {subset} is in no DestinationRule")
    return problems
