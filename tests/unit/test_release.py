"""Releases: the version, the CHANGELOG and the release workflow agree."""

from __future__ import annotations

import re
from pathlib import Path

from devenv.scaffold.template import template_root
from tests.template import lint

ROOT = template_root()


def test_the_version_is_the_changelogs_latest_release() -> None:
    from devenv import __version__

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'path = "src/devenv/__init__.py"' in pyproject
    version = re.fullmatch(r"(\d+\.\d+\.\d+)", __version__)
    releases = re.findall(
        r"(?m)^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (ROOT / "CHANGELOG.md").read_text()
    )
    assert version and releases, "a semver __version__ and releases in CHANGELOG.md"
    assert releases[0] == version[1], "bump src/devenv/__init__.py and the CHANGELOG together"
    assert releases == sorted(releases, key=lambda v: tuple(map(int, v.split("."))), reverse=True)


def test_release_workflow_is_actionlint_clean(tmp_path: Path) -> None:
    project = tmp_path / "repo"
    (project / ".github" / "workflows").mkdir(parents=True)
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    (project / ".github" / "workflows" / "release.yml").write_text(text)
    assert lint.actionlint(project) == ""
    assert "persist-credentials: false" in text and "id-token: write" in text
