"""Every combination of the template's choices renders into a valid, secure project."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv.core.envfile import read_env
from devenv.stack.probes import KINDS
from tests.template import lint
from tests.template.conftest import answer_matrix, answers_id

MATRIX = list(answer_matrix())
SECRET_KEYS = ("POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY",
               "JUPYTER_TOKEN")


def expected_files(answers: dict[str, Any], package: str) -> set[str]:
    files = {
        ".copier-answers.yml", ".env", ".env.example", ".gitignore", ".gitattributes", ".compose-lint.yml",
        ".trivyignore", ".github/workflows/images.yml", ".github/workflows/promote.yml",
        "README.md", "compose.yaml", "data/.gitkeep", "notebooks/README.md",
        "scripts/onboard.sh", "services/postgres/initdb/10-mlflow-db.sh",
        "services/mlflow/.dockerignore", "services/mlflow/Dockerfile",
        "services/mlflow/create_bucket.py", "services/mlflow/requirements.txt",
        "services/mlflow/serve.py",
        f"src/{package}/__init__.py", f"src/{package}/train.py",
        "pyproject.toml", "uv.lock", ".pre-commit-config.yaml", "tests/conftest.py",
        "tests/test_train.py",
        "services/registry/Dockerfile", "services/registry/config.yml",
        "k8s/base/kustomization.yaml", "k8s/base/mlflow.yaml", "k8s/base/namespace.yaml",
        "k8s/base/network-policies.yaml", "k8s/overlays/prod/kustomization.yaml",
        *(f"k8s/overlays/local/{n}.yaml" for n in
          ("kustomization", "network-policies", "postgres", "objectstore", "bucket-init")),
    }
    if answers["gpu"] != "none" and (answers["include_jupyter"] or answers["include_serving"]):
        files.add("compose.gpu.yaml")
    if answers["include_jupyter"]:
        files |= {"notebooks/quickstart.ipynb", "k8s/base/train-job.yaml",
                  ".devcontainer/devcontainer.json"}
        if answers["gpu"] != "none":
            files.add("k8s/overlays/gpu/kustomization.yaml")
        files |= {f"services/jupyter/{n}" for n in
                  (".dockerignore", "Dockerfile", "jupyter_server_config.py", "requirements.lock")}
    if answers["include_serving"]:
        files |= {f"services/serving/{n}" for n in
                  (".dockerignore", "Dockerfile", "requirements.lock", "app/__init__.py",
                   "app/main.py")}
        files.add("tests/test_serving.py")
        files |= {"services/gateway/Dockerfile", "services/gateway/requirements.txt",
                  "k8s/base/serving.yaml", "k8s/overlays/prod/serving-pdb.yaml"}
    return files


def compose_config(compose_cmd: list[str], project: Path, *files: str) -> dict[str, Any]:
    args = [a for f in files for a in ("-f", f)]
    result = subprocess.run([*compose_cmd, "--project-directory", str(project), *args, "config",
                             "--format", "json"], capture_output=True, text=True, cwd=project)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("answers", MATRIX, ids=[answers_id(a) for a in MATRIX])
def test_render(answers: dict[str, Any], render, compose_cmd: list[str]) -> None:  # type: ignore[no-untyped-def]
    project: Path = render(answers)
    rendered = yaml.safe_load((project / ".copier-answers.yml").read_text())
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}

    # The exact file set, and no Jinja left anywhere.
    assert files == expected_files(answers, rendered["package_name"])
    for name in files:
        # GitHub Actions expressions (${{ ... }}) are meant to stay.
        text = re.sub(r"\$\{\{.*?\}\}", "", (project / name).read_text())
        assert "{{" not in text and "{%" not in text, f"unrendered Jinja in {name}"

    # Python parses, the notebook is valid JSON with only code and markdown cells.
    for name in files:
        if name.endswith(".py"):
            compile((project / name).read_text(), name, "exec")
    if answers["include_jupyter"]:
        notebook = json.loads((project / "notebooks/quickstart.ipynb").read_text())
        kinds = [c["cell_type"] for c in notebook["cells"]]
        assert kinds[0] == "markdown" and len(kinds) == (5 if answers["include_serving"] else 4)

    # Compose accepts the stack alone and with the GPU overlay.
    config = compose_config(compose_cmd, project, "compose.yaml")
    if "compose.gpu.yaml" in files:
        gpu_config = compose_config(compose_cmd, project, "compose.yaml", "compose.gpu.yaml")
        gpu_services = {n for n, s in gpu_config["services"].items() if s.get("deploy")}
        expected_gpu = {n for n in ("jupyter", "serving") if n in config["services"]}
        assert gpu_services == expected_gpu
    assert not any(s.get("deploy") for s in config["services"].values()), \
        "no GPU reservation belongs in compose.yaml"

    expected_services = {"postgres", "objectstore", "trust-init", "bucket-init", "mlflow"}
    if answers["object_store"] == "seaweedfs":
        expected_services.add("objectstore-init")
    expected_services |= {n for n, on in (("jupyter", answers["include_jupyter"]),
                                          ("serving", answers["include_serving"])) if on}
    assert set(config["services"]) == expected_services

    for name, service in config["services"].items():
        labels = service.get("labels", {})
        oneshot = labels.get("devenv.oneshot") == "true"
        if not oneshot:
            test = service.get("healthcheck", {}).get("test")
            assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
            assert labels.get("devenv.probe") and labels.get("devenv.url"), f"{name} lacks labels"
            # The registry (devenv.services) knows the probe, and where an exec probe runs.
            assert labels["devenv.probe"] in KINDS, f"{name}: unknown probe"
            runs_in = labels.get("devenv.probe-in", name)
            assert runs_in in config["services"], f"{name}: probe runs in unknown {runs_in}"
            if KINDS[labels["devenv.probe"]].where == "host":
                assert "devenv.probe-in" not in labels, f"{name}: an HTTP probe runs on the host"
            assert "start_interval" not in service["healthcheck"], "needs Engine >= 25"
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
        for dep, cond in service.get("depends_on", {}).items():
            wanted = ("service_completed_successfully"
                      if config["services"][dep].get("labels", {}).get("devenv.oneshot")
                      else "service_healthy")
            assert cond["condition"] == wanted, f"{name} -> {dep}"
    assert set(config["volumes"]) >= {"postgres-data", "objectstore-data"}

    # Least privilege: what we build runs as uid 1000 (USER in its Dockerfile); third-party
    # images get a non-root `user`, drop to one themselves (postgres), or are the documented
    # exception (MinIO, RustFS). Nothing keeps the capabilities it does not need.
    for name, service in config["services"].items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        if "build" in service:
            dockerfile = Path(service["build"]["context"]) / "Dockerfile"
            assert "\nUSER 1000:1000\n" in dockerfile.read_text(), name
            assert service.get("cap_drop") == ["ALL"] and "cap_add" not in service, name
        elif name == "objectstore" and answers["object_store"] != "seaweedfs":
            continue  # docs/images.md: runs as root, as the upstream image does
        elif name == "postgres":
            assert service.get("cap_drop") == ["ALL"], name
        else:
            assert service.get("user", "0").split(":")[0] not in ("0", "root") \
                or service.get("cap_add") == ["CHOWN"], name
            assert service.get("cap_drop") == ["ALL"], name

    # Secrets: strong, in .env only, never in the answers file; .env.example has placeholders.
    env = read_env(project / ".env")
    answers_text = (project / ".copier-answers.yml").read_text()
    for key in SECRET_KEYS:
        if key == "JUPYTER_TOKEN" and not answers["include_jupyter"]:
            assert key not in env
            continue
        value = env[key]
        assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", value), key
        if key != "S3_ACCESS_KEY":
            assert len(value) >= 32, key
        assert value not in answers_text
        assert read_env(project / ".env.example")[key] == "change-me"
    assert set(read_env(project / ".env")) == set(read_env(project / ".env.example"))

    # Linters: zero findings (compose-lint exceptions are written down in .compose-lint.yml).
    for dockerfile in project.glob("services/*/Dockerfile"):
        assert lint.hadolint(dockerfile) == "", dockerfile
    for script in [project / "scripts/onboard.sh", *project.glob("services/postgres/initdb/*.sh")]:
        assert lint.shellcheck(script) == "", script
    assert lint.compose_lint(project, "compose.yaml") == ""
    if "compose.gpu.yaml" in files:
        assert lint.compose_lint_merged(project, compose_cmd, "compose.yaml", "compose.gpu.yaml") == ""
    # Trivy's Dockerfile checks: clean, and any accepted ID has its reason on the line above.
    assert lint.trivy_config(project) == ""
    ignore_lines = (project / ".trivyignore").read_text().splitlines()
    for i, line in enumerate(ignore_lines):
        if line.strip() and not line.startswith("#"):
            assert i > 0 and ignore_lines[i - 1].startswith("#"), f"no reason for {line}"
    assert lint.actionlint(project) == ""

    # Build contexts: an allowlist .dockerignore keeps notebooks, data and .git out.
    for name, service in config["services"].items():
        if "build" in service:
            ignore = Path(service["build"]["context"]) / ".dockerignore"
            rules = [r for r in ignore.read_text().splitlines() if r and not r.startswith("#")]
            assert rules[0] == "*", f"{name}: .dockerignore must start by excluding everything"
            assert not [r for r in rules if r.startswith("!")
                        and re.match(r"!/?(notebooks|data|\.git|\.env)", r)], name

    # Podman 4's Docker API splits an exec-form healthcheck argument at its spaces.
    for name, service in config["services"].items():
        test = (service.get("healthcheck") or {}).get("test") or []
        if test[:1] == ["CMD"]:
            assert not [arg for arg in test[1:] if " " in arg], f"{name}: {test}"

    # Corporate networks at run time: every Python service trusts the one CA bundle that
    # trust-init writes, and skips the proxy for the stack's own names.
    for name in {"bucket-init", "mlflow", "jupyter", "serving"} & set(config["services"]):
        service = config["services"][name]
        env = service["environment"]
        assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == env["PIP_CERT"], name
        assert any(v["source"] == "trust" and v.get("read_only") for v in service["volumes"]), name
        assert {"mlflow", "objectstore", "postgres", "localhost"} <= set(
            env["NO_PROXY"].split(",")
        ), name
    assert config["services"]["trust-init"]["network_mode"] == "none"

    # The images workflow builds exactly the images the project has.
    workflow = yaml.safe_load((project / ".github/workflows/images.yml").read_text())
    built = {n for n, s in config["services"].items() if "build" in s}
    built -= {"bucket-init", "trust-init"}
    assert set(workflow["jobs"]["build"]["strategy"]["matrix"]["image"]) == built


def test_two_renders_have_different_secrets(render) -> None:  # type: ignore[no-untyped-def]
    first, second = (read_env(render({}) / ".env") for _ in range(2))
    for key in SECRET_KEYS:
        assert first[key] != second[key], key
    assert len({first[k] for k in SECRET_KEYS}) == len(SECRET_KEYS), "secrets must differ"


def test_extra_ca_certs_becomes_a_build_secret(render, compose_cmd: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project: Path = render({})
    default = compose_config(compose_cmd, project, "compose.yaml")
    assert default["secrets"]["extra_ca"]["file"] == "/dev/null"
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    with (project / ".env").open("a") as env:
        env.write(f"EXTRA_CA_CERTS={bundle}\n")
    config = compose_config(compose_cmd, project, "compose.yaml")
    assert config["secrets"]["extra_ca"]["file"] == str(bundle)
    built = [n for n, s in config["services"].items() if "build" in s]
    assert built and all(
        {"source": "extra_ca"} in config["services"][n]["build"]["secrets"] for n in built
    )


def test_canary_profile(render, compose_cmd: list[str]) -> None:  # type: ignore[no-untyped-def]
    """`--profile canary` adds the challenger (the serving image, the challenger alias) and the
    Envoy gateway: hardened, healthchecked, ports on loopback, admin API on 127.0.0.1 always."""
    project: Path = render({"include_serving": True})
    plain = compose_config(compose_cmd, project)
    assert not {"gateway", "serving-challenger"} & set(plain["services"]), "only with the profile"
    result = subprocess.run(
        [*compose_cmd, "--project-directory", str(project), "--profile", "canary", "config",
         "--format", "json"], capture_output=True, text=True, cwd=project, env={
             **__import__("os").environ, "BIND_ADDRESS": "0.0.0.0"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    gateway, challenger, serving = (
        services["gateway"], services["serving-challenger"], services["serving"]
    )
    assert challenger["image"] == serving["image"] and "build" not in challenger
    env = read_env(project / ".env")
    assert challenger["environment"]["MODEL_ALIAS"] == env["CANARY_ALIAS"] == "challenger"
    for service in (gateway, challenger):
        assert service["cap_drop"] == ["ALL"] and service["healthcheck"]["test"][0] == "CMD"
        assert "no-new-privileges:true" in service["security_opt"]
    assert gateway["read_only"] is True
    admin = next(p for p in gateway["ports"] if p["target"] == 9901)
    assert admin["host_ip"] == "127.0.0.1", "the admin API changes weights: never beyond loopback"
    assert int(admin["published"]) == int(env["CANARY_ADMIN_PORT"])
    labels = gateway["labels"]
    assert labels["devenv.probe"] in KINDS and labels["devenv.admin"].endswith(
        env["CANARY_ADMIN_PORT"]
    )
    mount = gateway["volumes"][0]
    assert mount["read_only"] and mount["source"].endswith(".devenv/gateway/envoy.yaml")


@pytest.mark.parametrize(
    "ports",
    [
        {},  # the defaults: registry 5051, canary 8080, admin 9901
        {"mlflow_port": 8887, "jupyter_port": 8888, "serving_port": 8808},  # +1 and +80 taken
        {"serving_port": 65500, "mlflow_port": 65535},  # +80, +1901 and +1 past 65535
    ],
    ids=["defaults", "offsets-taken", "top-of-range"],
)
def test_derived_ports_are_free_distinct_and_in_range(render, ports: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    """The ports nobody is asked for (registry, canary gateway and admin) never land on an
    answered port, on each other, or past 65535; the project's answers do not store them."""
    project: Path = render(ports)
    env = read_env(project / ".env")
    published = {key: int(value) for key, value in env.items() if key.endswith("_PORT")}
    derived = ("REGISTRY_PORT", "CANARY_PORT", "CANARY_ADMIN_PORT")
    assert set(derived) <= set(published)
    assert len(set(published.values())) == len(published), published
    assert all(1024 <= published[key] <= 65535 for key in derived), published
    for key, value in ports.items():
        assert published[key.upper()] == value, "answers are kept as given"
    if not ports:
        assert [published[key] for key in derived] == [5051, 8080, 9901]
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert not {"optional_ports", "registry_port", "canary_port"} & set(answers)
