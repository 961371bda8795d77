"""`devenv k8s apply|status`: an overlay on a local cluster (kind, k3d, k3s or minikube).

apply validates first, loads the images compose built into the cluster (no registry needed),
applies the objects, then waits for the training Job to complete and the champion to be ready.
Mesh objects (HTTPRoute, VirtualService, DestinationRule) are applied only where the cluster
knows their CRDs; elsewhere apply says so and leaves them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devenv.core import proc
from devenv.core.errors import (
    ClusterUnavailableError,
    StackUnhealthyError,
    ToolMissingError,
    UsageError,
)
from devenv.core.project import Project
from devenv.core.result import Result
from devenv.docker.engine import Engine
from devenv.release.k8s import render as k8s
from devenv.release.k8s.validate import validate

CLUSTER_TOOLS = ("kind", "k3d", "k3s", "minikube")
WAIT_S = 900


@dataclass(frozen=True)
class ClusterTool:
    name: str
    path: str

    def load_command(self, image: str) -> list[str]:
        """How this tool puts a local image into the cluster's container runtime."""
        if self.name == "kind":
            return [self.path, "load", "docker-image", image]
        if self.name == "k3d":
            return [self.path, "image", "import", image]
        if self.name == "minikube":
            return [self.path, "image", "load", image]
        # k3s: its containerd reads `docker save`'s archive on stdin.
        return ["sh", "-c", f'docker save "$1" | {self.path} ctr images import -', "sh", image]


def cluster_tool() -> ClusterTool:
    for name in CLUSTER_TOOLS:
        path = proc.which(name)
        if path:
            return ClusterTool(name, path)
    raise ToolMissingError(
        f"no local Kubernetes: none of {', '.join(CLUSTER_TOOLS)} is on PATH",
        hint="install kind and run `kind create cluster` (or k3d, minikube); render and "
        "validate work without one: devenv k8s validate",
    )


def _kubectl(*args: str, stdin: str | None = None, timeout: float = 60) -> proc.Done:
    return proc.run(
        [k8s.kubectl(), *args],
        stdin=stdin,
        timeout=timeout,
        what=f"kubectl {args[0]}",
        hint="kubectl cluster-info shows whether the cluster answers",
    )


def reachable() -> None:
    done = _kubectl("version", "--request-timeout=5s", timeout=30)
    if not done.ok:
        raise ClusterUnavailableError(
            f"kubectl reaches no cluster: {done.last_line()}",
            hint="start one (kind create cluster) or pick a context: kubectl config use-context",
        )


def _has_api(group: str) -> bool:
    return bool(_kubectl("api-resources", f"--api-group={group}", "-o", "name").stdout.strip())


def apply(
    project: Project, overlay: str, engine: Engine, on_step: Callable[[Result], None]
) -> list[Result]:
    """Validate, load images, apply, wait. Each step reported as it finishes."""
    steps: list[Result] = []

    def step(result: Result) -> Result:
        steps.append(result)
        on_step(result)
        result.raise_if_failed()
        return result

    tool = cluster_tool()
    reachable()
    rendered = k8s.render(project, overlay)
    for result in validate(project, rendered):
        if result.failed:
            result.name = f"validate/{result.name}"
            step(result)
    step(Result("validate", "ok", f"{len(rendered.docs)} objects, every check passed"))
    built = ours(rendered.docs, project)
    missing = [image for image in built if not engine.image_exists(image)]
    if missing:
        raise UsageError(
            f"not built yet: {', '.join(missing)}",
            hint="devenv up builds the stack's images (or: docker compose build)",
        )
    # Ours, and the upstream ones this engine already has: the cluster then pulls nothing.
    everything = {c["image"] for d in k8s.workloads(rendered.docs) for c in k8s.containers(d)}
    for image in sorted(i for i in everything if i in built or engine.image_exists(i)):
        done = proc.run(tool.load_command(image), timeout=900, what=f"{tool.name} image load")
        step(
            Result(
                f"load {image}",
                "ok" if done.ok else "fail",
                f"into {tool.name}" if done.ok else done.last_line(),
                error=ClusterUnavailableError,
            )
        )
    mesh = [d for d in rendered.docs if d.get("kind") in k8s.MESH_KINDS]
    known = {kind for kind, version in k8s.MESH_KINDS.items() if _has_api(version.split("/")[0])}
    docs = [d for d in rendered.docs if d.get("kind") not in k8s.MESH_KINDS or d["kind"] in known]
    done = _kubectl("apply", "-f", "-", stdin=_dump(docs), timeout=120)
    step(
        Result(
            "apply",
            "ok" if done.ok else "fail",
            f"{len(docs)} objects" if done.ok else done.last_line(),
            error=ClusterUnavailableError,
        )
    )
    skipped = sorted({d["kind"] for d in mesh} - known)
    if skipped:
        step(
            Result(
                "mesh",
                "skip",
                f"no CRDs for {', '.join(skipped)} in this cluster",
                fix="install Gateway API / Istio CRDs, then apply again",
            )
        )
    # The overlay's namespace (kustomize sets it on every object; prod has no Namespace object).
    namespace = next((w["metadata"].get("namespace") for w in k8s.workloads(docs)), None)
    where = ["-n", namespace] if namespace else []
    # MLflow first; the Job trains and registers the champion, which serving then loads.
    waits = [
        (f"{kind.lower()}/{name}", condition)
        for kind, name, condition in (
            ("Deployment", "mlflow", "--for=condition=available"),
            ("Job", "train", "--for=condition=complete"),
            ("Deployment", "serving-champion", "--for=condition=available"),
        )
        if _has_kind(docs, kind, name)
    ]
    for target, condition in waits:
        done = _kubectl(
            "wait", target, condition, f"--timeout={WAIT_S}s", *where, timeout=WAIT_S + 30
        )
        step(
            Result(
                f"wait {target}",
                "ok" if done.ok else "fail",
                condition.split("=")[-1] if done.ok else done.last_line(),
                fix=f"kubectl describe {target} {' '.join(where)}",
                error=ClusterUnavailableError,
            )
        )
    return steps


def _has_kind(docs: list[dict[str, Any]], kind: str, name: str) -> bool:
    return any(d.get("kind") == kind and d["metadata"]["name"] == name for d in docs)


def _dump(docs: list[dict[str, Any]]) -> str:
    import yaml

    return yaml.safe_dump_all(docs, sort_keys=False)


def ours(docs: list[dict[str, Any]], project: Project) -> list[str]:
    """The images in these objects that compose builds (the rest a cluster pulls itself)."""
    built = k8s.compose_images(project)
    found = {
        c["image"]
        for d in k8s.workloads(docs)
        for c in k8s.containers(d)
        if c.get("image", "").rsplit(":", 1)[0] in built
    }
    return sorted(found)


def status(project: Project, overlay: str) -> list[Result]:
    """Each workload of the overlay as the cluster sees it."""
    reachable()
    rendered = k8s.render(project, overlay)
    results = []
    for doc in k8s.workloads(rendered.docs):
        kind, name = doc["kind"].lower(), doc["metadata"]["name"]
        where = doc["metadata"].get("namespace")
        args = ["get", f"{kind}/{name}", "-o", "json", *(["-n", where] if where else [])]
        done = _kubectl(*args)
        if not done.ok:
            results.append(
                Result(
                    f"{kind}/{name}",
                    "fail",
                    "not in the cluster",
                    fix=f"devenv k8s apply {overlay}",
                )
            )
            continue
        results.append(_workload_status(kind, name, done.stdout))
    for result in results:  # a failed workload is a stack that does not work (exit 13)
        result.error = StackUnhealthyError
    return results


def _workload_status(kind: str, name: str, raw: str) -> Result:
    import json

    found = json.loads(raw)
    state = found.get("status", {})
    if kind == "job":
        if state.get("succeeded"):
            return Result(f"job/{name}", "ok", "complete")
        if state.get("failed"):
            return Result(
                f"job/{name}",
                "fail",
                f"{state['failed']} failed pod(s)",
                fix=f"kubectl logs job/{name}",
            )
        return Result(f"job/{name}", "warn", "running")
    want = found.get("spec", {}).get("replicas", 1)
    ready = state.get("readyReplicas", 0)
    return Result(f"{kind}/{name}", "ok" if ready >= want else "warn", f"{ready}/{want} ready")
