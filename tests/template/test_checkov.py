"""An independent scanner on every rendered variant: checkov (pinned in checkov-accepted.yaml,
installed into its own virtualenv under devenv's cache: its pins would fight ours) on each
overlay's rendered objects, the Dockerfiles and the GitHub workflows. Findings must be in the
accepted list, each with its reason; entries that match nothing fail too (a stale list hides
nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv.core.paths import cache_dir
from devenv.core.project import Project
from devenv.release.k8s import render as k8s
from tests.template.test_k8s import VARIANTS, tools_required

ACCEPTED = Path(__file__).with_name("checkov-accepted.yaml")
POLICY = yaml.safe_load(ACCEPTED.read_text())
Finding = tuple[str, str, str]  # check, scope (an overlay, dockerfile, github_actions), resource


@pytest.fixture(scope="module")
def checkov(request: pytest.FixtureRequest) -> str:
    venv = cache_dir() / f"checkov-{POLICY['checkov']}"
    binary = venv / "bin" / "checkov"
    if not binary.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", f"checkov=={POLICY['checkov']}"],
                check=True,
                timeout=900,
            )
        except (subprocess.SubprocessError, OSError) as error:
            if tools_required(request.config):
                raise
            pytest.skip(f"checkov could not be installed: {error}")
    return str(binary)


def scan(checkov: str, target: Path, frameworks: list[str], scope: str | None) -> list[Finding]:
    """checkov's failed checks (offline: no guideline download, no platform)."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    done = subprocess.run(
        [checkov, "-d", str(target), "--framework", *frameworks, "--skip-download",
         "--quiet", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr[-2000:]
    runs: Any = json.loads(done.stdout)
    found = []
    for run in runs if isinstance(runs, list) else [runs]:
        for failed in (run.get("results") or {}).get("failed_checks", []):
            where = scope or run["check_type"]
            found.append((failed["check_id"], where, f"{failed['file_path']}:{failed['resource']}"))
    return found


def accepted(finding: Finding) -> dict[str, Any] | None:
    check, scope, _ = finding
    for entry in POLICY["accepted"]:
        if entry["check"] == check and scope in entry.get("scope", [scope]):
            return dict(entry)
    return None


def test_every_accepted_finding_has_a_reason() -> None:
    for entry in POLICY["accepted"]:
        assert entry["check"].startswith("CKV") and len(entry["reason"]) > 40, entry


def test_checkov_finds_nothing_new_in_any_variant(checkov: str, render, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    findings: list[Finding] = []
    for name, answers in VARIANTS.items():
        project = Project(render(answers))
        for overlay in k8s.overlays(project):
            folder = tmp_path / name / overlay
            folder.mkdir(parents=True)
            (folder / "objects.yaml").write_text(k8s.render(project, overlay).text)
            findings += scan(checkov, folder, ["kubernetes"], overlay)
        findings += scan(checkov, project.root, ["dockerfile", "github_actions"], None)
    new = sorted({f for f in findings if accepted(f) is None})
    assert not new, "new checkov findings (fix them, or accept each with its reason in " + (
        f"{ACCEPTED.name}):\n" + "\n".join(" ".join(f) for f in new)
    )
    used = {accepted(f)["check"] for f in findings if accepted(f)}  # type: ignore[index]
    stale = [e["check"] for e in POLICY["accepted"] if e["check"] not in used]
    assert not stale, f"accepted in {ACCEPTED.name} but no longer found: {stale}"


def test_the_scanner_sees_a_planted_mistake(checkov: str, render, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The control: a privileged container is a finding nobody accepted."""
    project = Project(render({}))
    docs = k8s.render(project, "prod").docs
    mlflow = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow")
    mlflow["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    (tmp_path / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    new = [f for f in scan(checkov, tmp_path, ["kubernetes"], "prod") if accepted(f) is None]
    assert any(check == "CKV_K8S_16" for check, _, _ in new), new
