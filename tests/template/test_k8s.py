"""The generated project's Kubernetes manifests: every overlay of several projects builds and
passes every offline check (strict schemas, CRDs, trivy, our own), and each check catches the
mistake it exists for. Nothing here needs a cluster; the `k8s`-marked test at the end does."""

from __future__ import annotations

import copy
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv.release.k8s import checks, policy, validate
from devenv.release.k8s import render as k8s
from devenv.release.canary.spec import CanarySpec
from devenv.core.errors import ToolMissingError, UsageError
from devenv.core.project import Project

VARIANTS = {
    "default": {},
    "minio-cpu-serving": {"object_store": "minio", "gpu": "none", "include_jupyter": False},
    "rustfs-cpu-jupyter": {"object_store": "rustfs", "gpu": "none", "include_serving": False},
    "core": {"gpu": "none", "include_jupyter": False, "include_serving": False},
}


def tools_required(config: pytest.Config) -> bool:
    """In CI every validator must run: a skipped check (no npm, no trivy) is a failure."""
    return bool(config.getoption("--require-docker") or os.environ.get("CI"))


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def variant(request: pytest.FixtureRequest, render) -> tuple[dict[str, Any], Project]:  # type: ignore[no-untyped-def]
    answers = VARIANTS[request.param]
    return answers, Project(render(answers))


@pytest.fixture(scope="module")
def project(render) -> Project:  # type: ignore[no-untyped-def]
    return Project(render({}))


@pytest.fixture(scope="module")
def local(project: Project) -> k8s.Rendered:
    return k8s.render(project, "local")


def test_every_overlay_builds_and_passes_every_check(variant, request) -> None:  # type: ignore[no-untyped-def]
    answers, project = variant
    expected = {"local", "prod"}
    if answers.get("gpu", "auto") != "none" and answers.get("include_jupyter", True):
        expected.add("gpu")
    assert set(k8s.overlays(project)) == expected
    results = validate.validate_overlays(project)
    assert {r.name.split("/")[0] for r in results} == expected
    for result in results:
        if result.status == "skip" and result.name.endswith("/crds") and "no mesh" in result.detail:
            assert not answers.get("include_serving", True)
            continue
        if result.status == "skip" and not tools_required(request.config):
            pytest.skip(f"{result.name}: {result.detail}")
        assert result.status == "ok", (result.name, result.detail, result.data)
    docs = k8s.render(project, "local").docs
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "Deployment", "StatefulSet", "Service", "Secret", "ConfigMap"} <= kinds
    names = {f"{d['kind']}/{d['metadata']['name']}" for d in docs}
    assert ("Job/train" in names) == answers.get("include_jupyter", True)
    assert ("Deployment/serving-challenger" in names) == answers.get("include_serving", True)


def _check(name: str, docs: list[dict[str, Any]], project: Project, percent: int = 0):  # type: ignore[no-untyped-def]
    rendered = k8s.Rendered("local", yaml.safe_dump_all(docs), docs)
    spec = CanarySpec(percent=percent)
    return {
        "schemas": lambda: validate.check_schemas(docs),
        "crds": lambda: validate.check_crds(docs),
        "trivy": lambda: validate.check_trivy(rendered),
        "semantics": lambda: checks.check_semantics(docs, project, spec),
        "policies": lambda: policy.check_policies(docs, project),
    }[name]()


def _find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name))


def _container(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = _find(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]
    return found


def _unknown_field(d):  # type: ignore[no-untyped-def]
    _find(d, "Deployment", "mlflow")["spec"]["replicaz"] = 2


def _unknown_kind(d):  # type: ignore[no-untyped-def]
    d.append({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def _string_weight(d):  # type: ignore[no-untyped-def]
    _find(d, "HTTPRoute", "serving")["spec"]["rules"][-1]["backendRefs"][0]["weight"] = "ten"


def _subset_labels_not_a_map(d):  # type: ignore[no-untyped-def]
    _find(d, "DestinationRule", "serving")["spec"]["subsets"][0]["labels"] = "champion"


def _privileged(d):  # type: ignore[no-untyped-def]
    _container(d, "Deployment", "serving-champion")["securityContext"]["privileged"] = True


def _selector(d):  # type: ignore[no-untyped-def]
    _find(d, "Deployment", "serving-champion")["spec"]["selector"]["matchLabels"][
        "devenv.io/track"
    ] = "other"


def _target_port(d):  # type: ignore[no-untyped-def]
    _find(d, "Service", "mlflow")["spec"]["ports"][0]["targetPort"] = "web"


def _probe_port(d):  # type: ignore[no-untyped-def]
    _container(d, "Deployment", "mlflow")["readinessProbe"]["httpGet"]["port"] = "web"


def _probe_path(d):  # type: ignore[no-untyped-def]
    _container(d, "Deployment", "serving-champion")["readinessProbe"]["httpGet"]["path"] = "/rdy"


def _image(d):  # type: ignore[no-untyped-def]
    _container(d, "Deployment", "mlflow")["image"] = "someone-else-mlflow:local"


def _restart_policy(d):  # type: ignore[no-untyped-def]
    _find(d, "Job", "train")["spec"]["template"]["spec"]["restartPolicy"] = "Always"


def _no_backoff(d):  # type: ignore[no-untyped-def]
    del _find(d, "Job", "train")["spec"]["backoffLimit"]


def _subset(d):  # type: ignore[no-untyped-def]
    _find(d, "VirtualService", "serving")["spec"]["http"][-1]["route"][1]["destination"][
        "subset"
    ] = "canary"


def _config_key(d):  # type: ignore[no-untyped-def]
    env = _container(d, "Deployment", "serving-champion")["env"]
    next(e for e in env if e["name"] == "MODEL_NAME")["valueFrom"]["configMapKeyRef"]["key"] = "X"


def _no_pod(d):  # type: ignore[no-untyped-def]
    _find(d, "Service", "serving-challenger")["spec"]["selector"] = {"app": "nothing"}


def _root_objectstore(d):  # type: ignore[no-untyped-def]
    del _find(d, "StatefulSet", "objectstore")["spec"]["template"]["spec"]["securityContext"][
        "runAsNonRoot"
    ]


def _escalation(d):  # type: ignore[no-untyped-def]
    _container(d, "Deployment", "mlflow")["securityContext"]["allowPrivilegeEscalation"] = True


def _namespace_label(d):  # type: ignore[no-untyped-def]
    del _find(d, "Namespace", "")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]


def _no_default_deny(d):  # type: ignore[no-untyped-def]
    d.remove(_find(d, "NetworkPolicy", "default-deny"))


def _allow_all(d):  # type: ignore[no-untyped-def]
    """Someone debugging adds an allow-all policy (policies add up: it opens every path)."""
    d.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-all"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{}],
                "egress": [{}],
            },
        }
    )


def _serving_cut_off(d):  # type: ignore[no-untyped-def]
    del _find(d, "NetworkPolicy", "serving")["spec"]["egress"]


def _no_size_limit(d):  # type: ignore[no-untyped-def]
    _find(d, "Deployment", "mlflow")["spec"]["template"]["spec"]["volumes"][0]["emptyDir"] = {}


def _no_ephemeral(d):  # type: ignore[no-untyped-def]
    del _container(d, "Deployment", "serving-champion")["resources"]["limits"]["ephemeral-storage"]


MISTAKES = [
    ("schemas", _unknown_field, "replicaz"),
    ("schemas", _unknown_kind, "no Kubernetes"),
    ("crds", _string_weight, "weight"),
    ("crds", _subset_labels_not_a_map, "DestinationRule/serving"),
    ("trivy", _privileged, "KSV"),
    ("semantics", _selector, "selector does not match"),
    ("semantics", _target_port, "targetPort 'web'"),
    ("semantics", _probe_port, "port 'web'"),
    ("semantics", _probe_path, "/rdy is not a route"),
    ("semantics", _image, "not what compose builds"),
    ("semantics", _restart_policy, "restartPolicy"),
    ("semantics", _no_backoff, "backoffLimit"),
    ("semantics", _subset, "subset canary is in no DestinationRule"),
    ("semantics", _config_key, "has no key X"),
    ("semantics", _no_pod, "selects no pod"),
    ("policies", _root_objectstore, "objectstore/objectstore: runAsNonRoot is not true"),
    ("policies", _escalation, "allowPrivilegeEscalation is not false"),
    ("policies", _namespace_label, "pod-security.kubernetes.io/enforce is not restricted"),
    ("policies", _no_default_deny, "no default-deny NetworkPolicy"),
    ("policies", _allow_all, "serving reaches postgres:5432 (only MLflow should)"),
    ("policies", _serving_cut_off, "serving cannot reach mlflow:5000"),
    ("policies", _no_size_limit, "emptyDir tmp has no sizeLimit"),
    ("policies", _no_ephemeral, "no ephemeral-storage limits"),
]


@pytest.mark.parametrize(
    ("check", "mistake", "words"), MISTAKES, ids=[m[1].__name__.strip("_") for m in MISTAKES]
)
def test_each_check_catches_its_mistake(project, local, check, mistake, words, request) -> None:  # type: ignore[no-untyped-def]
    clean = _check(check, local.docs, project)
    if clean.status == "skip" and not tools_required(request.config):
        pytest.skip(clean.detail)
    assert clean.status == "ok", clean.detail
    docs = copy.deepcopy(local.docs)
    mistake(docs)
    found = _check(check, docs, project)
    assert found.status == "fail"
    assert any(words in p for p in found.data["problems"]), found.data["problems"]


def _no_budget(d):  # type: ignore[no-untyped-def]
    d.remove(_find(d, "PodDisruptionBudget", "serving-champion"))


def _no_spread(d):  # type: ignore[no-untyped-def]
    del _find(d, "Deployment", "serving-champion")["spec"]["template"]["spec"][
        "topologySpreadConstraints"
    ]


def _job_by_stale_tag(d):  # type: ignore[no-untyped-def]
    _container(d, "Job", "train")["imagePullPolicy"] = "IfNotPresent"


PROD_MISTAKES = [
    (_no_budget, "serving-champion: replicated, but no PodDisruptionBudget"),
    (_no_spread, "serving-champion: replicas may share a node"),
    (_job_by_stale_tag, "imagePullPolicy IfNotPresent (Always, or a digest)"),
]


@pytest.mark.parametrize(
    ("mistake", "words"), PROD_MISTAKES, ids=[m[0].__name__.strip("_") for m in PROD_MISTAKES]
)
def test_each_prod_policy_catches_its_mistake(project, mistake, words) -> None:  # type: ignore[no-untyped-def]
    docs = k8s.render(project, "prod").docs
    clean = policy.check_policies(docs, project)
    assert clean.status == "ok", clean.data
    mistake(docs)
    found = policy.check_policies(docs, project)
    assert found.status == "fail"
    assert any(words in p for p in found.data["problems"]), found.data["problems"]


def test_every_overlay_has_the_namespace_label_and_network_policies(variant) -> None:  # type: ignore[no-untyped-def]
    _, project = variant
    for overlay in k8s.overlays(project):
        docs = k8s.render(project, overlay).docs
        (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        policies = {d["metadata"]["name"] for d in docs if d["kind"] == "NetworkPolicy"}
        assert {"default-deny", "allow-dns", "mlflow"} <= policies, (overlay, policies)


def test_rendered_secrets_are_written_private(project: Project, tmp_path: Path) -> None:
    target = tmp_path / "local.rendered.yaml"
    target.write_text("old")
    target.chmod(0o644)
    assert k8s.write(k8s.render(project, "local"), target) > 0
    assert "kind: Secret" in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o600, "the Secret is readable only by its owner"
    public = tmp_path / "prod.yaml"
    k8s.write(k8s.render(project, "prod"), public)
    assert "kind: Secret" not in public.read_text()


def test_canary_weights_come_from_the_spec_in_env(project, local) -> None:  # type: ignore[no-untyped-def]
    assert _check("semantics", local.docs, project, percent=10).status == "fail", (
        "the rendered split is 0 %: a 10 % spec must not agree with it"
    )
    env = project.root / ".env"
    saved = env.read_text()
    try:
        env.write_text(saved.replace("CANARY_PERCENT=0", "CANARY_PERCENT=25"))
        docs = k8s.render(project, "local").docs
    finally:
        env.write_text(saved)
    route = _find(docs, "HTTPRoute", "serving")["spec"]["rules"][-1]["backendRefs"]
    assert {r["name"]: r["weight"] for r in route} == {
        "serving-champion": 75,
        "serving-challenger": 25,
    }
    legs = _find(docs, "VirtualService", "serving")["spec"]["http"][-1]["route"]
    assert [leg["weight"] for leg in legs] == [75, 25]
    assert _check("semantics", docs, project, percent=25).status == "ok"


def test_secrets_stay_out_of_git_and_out_of_configmaps(project, local) -> None:  # type: ignore[no-untyped-def]
    env = dict(line.split("=", 1) for line in (project.root / ".env").read_text().splitlines()
               if line and not line.startswith("#") and "=" in line)
    secrets_file = project.root / "k8s" / "overlays" / "local" / "secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    configmaps = [d for d in local.docs if d["kind"] == "ConfigMap"]
    for key in ("MLFLOW_DB_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert all(env[key] not in str(c.get("data")) for c in configmaps), key
    secret = _find(local.docs, "Secret", "platform-secrets")
    assert set(secret["data"]) == set(k8s.SECRETS)
    prod = k8s.render(project, "prod").docs
    assert not [d for d in prod if d["kind"] == "Secret"], "prod's Secret comes from elsewhere"
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q"], cwd=project.root, check=True)
        generated = [
            "k8s/overlays/local/secrets.env",
            "k8s/overlays/local/platform.env",
            "k8s/base/generated/canary.yaml",
        ]
        done = subprocess.run(["git", "check-ignore", *generated], cwd=project.root,
                              capture_output=True, text=True)
        assert done.stdout.split() == generated


def test_bad_input_is_one_line_and_a_hint(project: Project, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no overlay 'staging'") as raised:
        k8s.render(project, "staging")
    assert "local" in (raised.value.hint or "")
    with pytest.raises(UsageError, match="no k8s/ folder"):
        k8s.overlays(Project(tmp_path))
    env = project.root / ".env"
    saved = env.read_text()
    try:
        env.write_text("\n".join(line for line in saved.splitlines()
                                 if not line.startswith("S3_SECRET_KEY=")))
        with pytest.raises(UsageError, match="S3_SECRET_KEY"):
            k8s.render(project, "local")
    finally:
        env.write_text(saved)


def test_cli_validates_and_fails_with_exit_21_on_a_broken_overlay(project: Project) -> None:
    devenv = str(Path(sys.executable).parent / "devenv")
    ok = subprocess.run([devenv, "k8s", "validate", "prod", "--json"], cwd=project.root,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    report = yaml.safe_load(ok.stdout)
    assert report["ok"] is True and {r["name"] for r in report["results"]} >= {"prod/schemas"}
    broken = project.root / "k8s" / "overlays" / "prod" / "kustomization.yaml"
    saved = broken.read_text()
    try:
        broken.write_text(saved.replace("../../base", "../../basis"))
        bad = subprocess.run([devenv, "k8s", "validate", "prod"], cwd=project.root,
                             capture_output=True, text=True)
    finally:
        broken.write_text(saved)
    assert bad.returncode == 21, bad.stderr
    assert "Traceback" not in bad.stderr
    assert "error: overlay prod" in bad.stderr or "kustomize" in bad.stderr


@pytest.mark.k8s
def test_apply_on_a_local_cluster(project: Project) -> None:
    """Runs where kind, k3d, k3s or minikube is installed with a cluster up (not on CI here)."""
    from devenv.release.k8s import cluster as k8s_cluster
    from devenv.docker.engine import Engine

    try:
        k8s_cluster.cluster_tool()
    except ToolMissingError as error:
        pytest.skip(f"{error.message} (CI here has none; docs/kubernetes.md)")
    steps = k8s_cluster.apply(project, "local", Engine(project), on_step=lambda _: None)
    assert all(s.status in {"ok", "skip"} for s in steps)
    assert all(r.status == "ok" for r in k8s_cluster.status(project, "local"))


def _stand_ins(bin_dir: Path, log: Path, *, reachable: bool) -> None:
    """`kind` and a `kubectl` that records what it is asked and hands kustomize to the real one."""
    real = k8s.kubectl()
    bin_dir.mkdir()
    (bin_dir / "kind").write_text(f'#!/bin/sh\necho "kind $*" >> {log}\n')
    (bin_dir / "kubectl").write_text(
        "#!/bin/sh\n"
        f'[ "$1" = kustomize ] && exec {real} "$@"\n'
        f'echo "kubectl $*" >> {log}\n'
        f'[ "$1" = apply ] && cat >> {log}.applied\n'
        f'[ "$1" = version ] && {"exit 0" if reachable else "echo refused >&2; exit 1"}\n'
        "exit 0\n"
    )
    for tool in ("kind", "kubectl"):
        (bin_dir / tool).chmod(0o755)


def test_apply_validates_loads_applies_and_waits_in_that_order(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sequence against stand-in cluster tools; a real cluster is the k8s-marked test's."""
    from devenv.release.k8s import cluster as k8s_cluster
    from devenv.core.errors import ClusterUnavailableError
    from tests.unit.fakes import FakeEngine

    log = tmp_path / "calls.log"
    _stand_ins(tmp_path / "bin", log, reachable=True)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    engine = FakeEngine(project.root, {})
    built = k8s_cluster.ours(k8s.render(project, "local").docs, project)
    assert {b.rsplit("-", 1)[-1] for b in built} == {"mlflow:local", "serving:local",
                                                     "jupyter:local"}
    with pytest.raises(UsageError, match="not built yet"):
        k8s_cluster.apply(project, "local", engine, on_step=lambda _: None)
    assert "apply" not in log.read_text(), "nothing applied when an image is missing"

    engine.images = {image: "sha256:x" for image in built}
    seen: list[str] = []
    steps = k8s_cluster.apply(project, "local", engine, on_step=lambda r: seen.append(r.name))
    assert steps[0].name == "validate"
    assert {s.name: s.status for s in steps if s.status != "ok"} == {"mesh": "skip"}
    calls = log.read_text().splitlines()
    loads = [c for c in calls if c.startswith("kind load docker-image")]
    assert sorted(c.split()[-1] for c in loads) == built
    order = [c.split()[1] for c in calls if c.startswith("kubectl")]
    assert order.index("apply") < order.index("wait")
    waits = [c.split()[2] for c in calls if c.startswith("kubectl wait")]
    assert waits == ["deployment/mlflow", "job/train", "deployment/serving-champion"]
    slug = project.answers()["project_slug"]
    assert all(c.endswith(f"-n {slug}") for c in calls if c.startswith("kubectl wait"))
    applied = list(yaml.safe_load_all((tmp_path / "calls.log.applied").read_text()))
    assert not [d for d in applied if d["kind"] in k8s.MESH_KINDS], "no CRDs: mesh left out"
    assert "mesh" in seen, "and the user is told"

    log.unlink()
    _stand_ins(tmp_path / "bin2", log, reachable=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin2'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ClusterUnavailableError, match="reaches no cluster"):
        k8s_cluster.apply(project, "local", engine, on_step=lambda _: None)


def test_apply_without_a_cluster_tool_says_what_to_install(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv.release.k8s import cluster as k8s_cluster

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="no local Kubernetes") as raised:
        k8s_cluster.apply(project, "local", None, on_step=lambda _: None)  # type: ignore[arg-type]
    assert "kind create cluster" in (raised.value.hint or "")


def test_render_to_a_folder_that_does_not_exist_is_one_line(project: Project) -> None:
    devenv = str(Path(sys.executable).parent / "devenv")
    done = subprocess.run(
        [devenv, "k8s", "render", "local", "-o", "/nonexistent/dir/x.yaml"],
        cwd=project.root, capture_output=True, text=True,
    )
    assert done.returncode == 2 and "cannot write" in done.stderr
    assert "Traceback" not in done.stderr
