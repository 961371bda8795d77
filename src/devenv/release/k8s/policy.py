"""Who may do what in the cluster, checked object by object: Pod Security "restricted" for every
pod and enforced by the Namespace, NetworkPolicies that allow the stack's paths and no others,
disruption budgets for replicated serving, bounded ephemeral storage, and images that cannot go
stale under a moved tag. Each rule has a planted-mistake test in tests/template/test_k8s.py."""

from __future__ import annotations

from typing import Any

from devenv.core.project import Project
from devenv.core.result import Result
from devenv.release.k8s.checks import verdict
from devenv.release.k8s.render import compose_images, name_of, pod, workloads

RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip
PSA = "pod-security.kubernetes.io/enforce"


def check_policies(docs: list[dict[str, Any]], project: Project) -> Result:
    problems = [
        *restricted_pods(docs),
        *namespace_enforces(docs),
        *network_paths(docs),
        *disruption_budgets(docs),
        *ephemeral_bounded(docs),
        *pulls_fresh(docs, project),
    ]
    return verdict(
        "policies",
        problems,
        "pods restricted, network paths, disruption budgets, storage and pulls as they should",
    )


def all_containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod(doc).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def labels_of(doc: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = pod(doc).get("metadata", {}).get("labels", {})
    return found


# ---------------------------------------------------------------- Pod Security "restricted"


def restricted_pods(docs: list[dict[str, Any]]) -> list[str]:
    """The "restricted" profile's rules (kubernetes.io/docs/concepts/security/pod-security-
    standards), the pod's securityContext standing in for a container's where it is unset."""
    problems = []
    for doc in workloads(docs):
        spec = pod(doc).get("spec", {})
        shared = spec.get("securityContext") or {}
        where = name_of(doc)
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                problems.append(f"{where}: {key} is not allowed (restricted)")
        for volume in spec.get("volumes", []):
            kinds = set(volume) - {"name"}
            if not kinds <= RESTRICTED_VOLUMES:
                problems.append(f"{where}: volume {volume.get('name')} is {', '.join(kinds)}")
        for container in all_containers(doc):
            own = container.get("securityContext") or {}
            who = f"{where}/{container.get('name')}"
            effective = {**shared, **own}  # the container's own setting wins
            if effective.get("runAsNonRoot") is not True:
                problems.append(f"{who}: runAsNonRoot is not true (restricted)")
            if effective.get("runAsUser") == 0:
                problems.append(f"{who}: runAsUser 0 (restricted)")
            if own.get("privileged"):
                problems.append(f"{who}: privileged (restricted)")
            if own.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{who}: allowPrivilegeEscalation is not false (restricted)")
            caps = own.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                problems.append(f"{who}: capabilities do not drop ALL (restricted)")
            if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
                problems.append(f"{who}: adds capabilities {caps['add']} (restricted)")
            seccomp = (effective.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{who}: seccompProfile is not RuntimeDefault (restricted)")
    return problems


def namespace_enforces(docs: list[dict[str, Any]]) -> list[str]:
    spaces = [d for d in docs if d.get("kind") == "Namespace"]
    if not spaces:
        return ["no Namespace in the overlay: nothing enforces Pod Security"]
    return [
        f"{name_of(d)}: label {PSA} is not restricted"
        for d in spaces
        if (d.get("metadata", {}).get("labels") or {}).get(PSA) != "restricted"
    ]


# ---------------------------------------------------------------- NetworkPolicies


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items()) and not selector.get(
        "matchExpressions"
    )


def _port_allowed(ports: list[dict[str, Any]] | None, port: int, names: dict[str, int]) -> bool:
    if not ports:
        return True
    for allowed in ports:
        value = allowed.get("port")
        number = names.get(value) if isinstance(value, str) else value
        if value is None or number == port:
            return True
    return False


def _peer_matches(peers: list[dict[str, Any]] | None, labels: dict[str, str]) -> bool:
    """A peer in the same namespace; a namespaceSelector of {} (any namespace) counts."""
    if peers is None:
        return True
    for peer in peers:
        if "ipBlock" in peer:
            continue
        if "namespaceSelector" in peer and peer["namespaceSelector"] not in ({}, None):
            continue
        if _selects(peer.get("podSelector") or {}, labels):
            return True
    return False


def allowed(
    policies: list[dict[str, Any]],
    source: dict[str, str],
    target: dict[str, str],
    port: int,
    names: dict[str, int] | None = None,
) -> bool:
    """Whether `source` pods may open `port` on `target` pods: egress of the one and ingress
    of the other, each open when no policy of that direction selects the pod."""
    names = names or {}

    def direction(pod_labels: dict[str, str], kind: str, peer: dict[str, str]) -> bool:
        selecting = [
            p
            for p in policies
            if kind in (p["spec"].get("policyTypes") or ["Ingress"])
            and _selects(p["spec"].get("podSelector") or {}, pod_labels)
        ]
        if not selecting:
            return True
        key, peers = ("egress", "to") if kind == "Egress" else ("ingress", "from")
        return any(
            _peer_matches(rule.get(peers), peer) and _port_allowed(rule.get("ports"), port, names)
            for p in selecting
            for rule in p["spec"].get(key) or []
        )

    return direction(source, "Egress", target) and direction(target, "Ingress", source)


def network_paths(docs: list[dict[str, Any]]) -> list[str]:
    """A default deny, then each path the stack needs allowed, and paths it must never have
    (serving or training straight to the database or the object store) denied."""
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    deny = [
        p
        for p in policies
        if not p["spec"].get("podSelector")
        and {"Ingress", "Egress"} <= set(p["spec"].get("policyTypes") or [])
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    problems = [] if deny else ["no default-deny NetworkPolicy (podSelector {}, Ingress+Egress)"]
    pods = {
        name: labels_of(d)
        for d in workloads(docs)
        if (name := labels_of(d).get("app.kubernetes.io/name"))
    }
    ports = {
        name: int(p["containerPort"])
        for d in workloads(docs)
        for c in all_containers(d)
        for p in c.get("ports", [])
        if (name := labels_of(d).get("app.kubernetes.io/name"))
        and p.get("name") in ("http", "s3", "postgres")
    }
    needed = [
        ("serving", "mlflow"),
        ("train", "mlflow"),
        ("mlflow", "postgres"),
        ("mlflow", "objectstore"),
        ("bucket-init", "objectstore"),
    ]
    present = [(s, t) for s in pods for t in pods if t in ports]

    def reaches(source: str, target: str) -> bool:
        return allowed(policies, pods[source], pods[target], ports[target])

    forbidden = {(s, t) for s in ("serving", "train") for t in ("postgres", "objectstore")}
    for source, target in present:
        if (source, target) in needed and not reaches(source, target):
            problems.append(f"NetworkPolicy: {source} cannot reach {target}:{ports[target]}")
        if (source, target) in forbidden and reaches(source, target):
            problems.append(
                f"NetworkPolicy: {source} reaches {target}:{ports[target]} (only MLflow should)"
            )
    return problems


# ---------------------------------------------------------------- availability and resources


def disruption_budgets(docs: list[dict[str, Any]]) -> list[str]:
    budgets = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    problems = []
    for doc in (d for d in docs if d.get("kind") == "Deployment"):
        if int(doc.get("spec", {}).get("replicas") or 1) < 2:
            continue
        labels = labels_of(doc)
        if not any(_selects(b["spec"].get("selector") or {}, labels) for b in budgets):
            problems.append(f"{name_of(doc)}: replicated, but no PodDisruptionBudget")
        spec = pod(doc).get("spec", {})
        spread = spec.get("topologySpreadConstraints") or (
            (spec.get("affinity") or {}).get("podAntiAffinity")
        )
        if not spread:
            problems.append(f"{name_of(doc)}: replicas may share a node (no spread)")
    return problems


def ephemeral_bounded(docs: list[dict[str, Any]]) -> list[str]:
    """A full /tmp or log must evict its own pod, not fill the node's disk."""
    problems = []
    for doc in workloads(docs):
        for volume in pod(doc).get("spec", {}).get("volumes", []):
            if "emptyDir" in volume and not (volume["emptyDir"] or {}).get("sizeLimit"):
                problems.append(f"{name_of(doc)}: emptyDir {volume['name']} has no sizeLimit")
        for container in all_containers(doc):
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                if "ephemeral-storage" not in (resources.get(kind) or {}):
                    problems.append(
                        f"{name_of(doc)}/{container.get('name')}: no ephemeral-storage {kind}"
                    )
    return problems


def pulls_fresh(docs: list[dict[str, Any]], project: Project) -> list[str]:
    """Our images from a registry by tag (not digest) are pulled every time: a node would
    otherwise keep running the image it cached before the tag moved."""
    ours = {name.rsplit("-", 1)[-1] for name in compose_images(project)}
    problems = []
    for doc in workloads(docs):
        for container in all_containers(doc):
            image = str(container.get("image", ""))
            if "@" in image or "/" not in image:  # by digest, or a local build (no registry)
                continue
            if image.rsplit("/", 1)[-1].split(":", 1)[0] not in ours:
                continue
            if container.get("imagePullPolicy") != "Always":
                problems.append(
                    f"{name_of(doc)}/{container.get('name')}: {image} by tag, "
                    f"imagePullPolicy {container.get('imagePullPolicy')} (Always, or a digest)"
                )
    return problems
