"""devenv k8s: the project's Kubernetes overlays rendered, validated offline, applied to a local
cluster, and their workloads' state (docs/kubernetes.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devenv.cli.base import (
    ForceOption,
    JsonOption,
    engine,
    finish,
    group,
    interruptible,
    project,
    views,
)

app = group(
    "k8s",
    "Kubernetes manifests for this project (k8s/: a Kustomize base and overlays): render "
    "them, validate them offline, apply them to a local cluster (docs/kubernetes.md)."
    "\n\nExamples:\n\n  devenv k8s validate\n\n  devenv k8s render local > local.yaml"
    "\n\n  devenv k8s apply local",
)
OverlayArgument = Annotated[
    str, typer.Argument(metavar="OVERLAY", help="A folder of k8s/overlays: local, prod, gpu.")
]


def render(
    overlay: OverlayArgument = "local",
    *,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    force: ForceOption = False,
) -> None:
    """Build an overlay into plain objects (secrets and settings from .env, never committed).

    Examples:

      devenv k8s render local | kubectl apply -f -

      devenv k8s render local -o k8s/local.rendered.yaml

    A file that holds a Secret (the local overlay's) is written 0600; k8s/*.rendered.yaml is
    git-ignored.
    """
    from devenv.core import outputs
    from devenv.release.k8s import render as k8s

    found = project()
    # The path is judged before anything is generated: a refused -o leaves no file touched.
    target = outputs.check(output, root=found.root, force=force, flag="-o") if output else None
    rendered = k8s.render(found, overlay)
    if target is None:
        views().raw(rendered.text)
        return
    count = k8s.write(rendered, target)
    finish(success=f"{count} objects written to {output}")


def validate(
    overlays: Annotated[
        list[str] | None,
        typer.Argument(metavar="OVERLAY", help="Overlays to check (default: all)."),
    ] = None,
    *,
    json_output: JsonOption = False,
) -> None:
    """Check overlays offline: Kubernetes schemas (strict), the mesh CRDs, trivy config, and
    whether selectors, ports, probes, images, Jobs and canary weights agree; then the policies:
    Pod Security "restricted" (enforced by the Namespace), NetworkPolicies (default deny, the
    stack's paths only), disruption budgets, ephemeral storage, image pulls.

    Examples:

      devenv k8s validate

      devenv k8s validate prod --json | jq '.results[] | select(.status != "ok")'
    """
    from devenv.release.k8s import validate as checks
    from devenv.ui import console

    console.info("rendering and checking the overlays (the first run installs the CRD validators)")
    results = checks.validate_overlays(project(), overlays or [])
    views().checks(results, as_json=json_output)
    finish(results, success=f"{checks.overlays_checked(results)} overlay(s) valid")


def apply(overlay: OverlayArgument = "local", *, json_output: JsonOption = False) -> None:
    """Validate, load the stack's images into a local cluster (kind, k3d, k3s, minikube),
    apply, and wait for the training Job and the champion to be ready.

    Examples:

      kind create cluster && devenv k8s apply local
    """
    from devenv.release.k8s import cluster

    machine = engine()
    assert machine.project is not None
    with interruptible("objects may be half applied: devenv k8s status shows them"):
        steps = cluster.apply(machine.project, overlay, machine, on_step=views().phase)
    views().checks(steps, as_json=json_output)
    finish(steps, success=f"overlay {overlay} applied and ready")


def status(overlay: OverlayArgument = "local", *, json_output: JsonOption = False) -> None:
    """Each Job, Deployment and StatefulSet of an overlay as the cluster reports it.

    Examples:

      devenv k8s status --json
    """
    from devenv.release.k8s import cluster

    results = cluster.status(project(), overlay)
    views().checks(results, as_json=json_output)
    finish(results)
