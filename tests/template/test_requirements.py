"""The MLflow image installs `mlflow` with --no-deps on top of a hand-picked list: that list must
keep following what the pinned MLflow release asks for, or the server breaks at import time."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devenv.scaffold.template import template_root

REQUIREMENTS = template_root() / "template" / "services" / "mlflow" / "requirements.txt"
# What a tracking server never imports: modelling, plotting and the docker SDK (about 600 MB).
# pandas stays (server jobs import it), and brings numpy.
LEFT_OUT = {"docker", "matplotlib", "numpy", "pyarrow", "scikit-learn", "scipy", "skops"}


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier  # exactly one `==` pin each
            assert spec.operator == "==", line
            found[canonicalize_name(req.name)] = spec.version
    return found


def test_server_requirements_follow_the_pinned_mlflow() -> None:
    pinned = pins(REQUIREMENTS)
    mlflow = distribution("mlflow")  # the dev extras pin the same release
    assert pinned["mlflow-skinny"] == mlflow.version
    wanted = [Requirement(r) for r in mlflow.requires or []]
    wanted = [r for r in wanted if r.marker is None or r.marker.evaluate({"extra": ""})]
    for req in wanted:
        name = canonicalize_name(req.name)
        if name in LEFT_OUT:
            continue
        assert name in pinned, f"mlflow {mlflow.version} needs {req}; pin it in {REQUIREMENTS}"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{name}=={pinned[name]} does not satisfy mlflow's {req}"
        )
    assert LEFT_OUT <= {canonicalize_name(r.name) for r in wanted}, "left-out list is stale"


def locked_versions() -> dict[str, str]:
    """Package -> version in the template's uv.lock (the generated project's one source of pins)."""
    import tomllib

    text = (template_root() / "template" / "uv.lock.jinja").read_text()
    text = text.replace("{{ project_slug | regex_replace('[-_.]+', '-') }}", "project")
    return {p["name"]: p["version"] for p in tomllib.loads(text)["package"] if "version" in p}


def test_the_server_runs_the_mlflow_its_clients_are_locked_to() -> None:
    """The tracking server is platform (its own requirements.txt, no modelling stack); the
    JupyterLab and serving images install from the lock. One MLflow release for all three."""
    locked = locked_versions()
    assert locked["mlflow"] == locked["mlflow-skinny"] == pins(REQUIREMENTS)["mlflow-skinny"]
    assert pins(REQUIREMENTS)["mlflow-tracing"] == locked["mlflow-tracing"]
