"""Re-resolve the template's lock: template/uv.lock.jinja and each image's requirements.lock.

    python tools/relock.py            # after changing a pin in template/pyproject.toml.jinja
    python tools/relock.py --upgrade  # newest versions the pins allow (there are none: all ==)

The template's pyproject is rendered with a placeholder project name, locked with uv (what a
generated project's `devenv lock` runs), and the placeholder becomes the project's name again
in the lock: uv accepts the project's entry anywhere in the file. The exports are the same
commands `devenv lock` and the project's pre-commit hooks run (devenv.scaffold.deps.export_args).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jinja2

from devenv.scaffold.deps import EXPORTS, export_args, uv_binary

TEMPLATE = Path(__file__).resolve().parents[1] / "template"
PLACEHOLDER = "devenv-template-project"
NAME = "{{ project_slug | regex_replace('[-_.]+', '-') }}"
FOLDERS = {
    "jupyter": "services/{% if include_jupyter %}jupyter{% endif %}",
    "serving": "services/{% if include_serving %}serving{% endif %}",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true")
    args = parser.parse_args(argv)
    uv = uv_binary()
    source = (TEMPLATE / "pyproject.toml.jinja").read_text(encoding="utf-8")
    answers = {"project_name": "Template", "project_slug": PLACEHOLDER, "package_name": "pkg",
               "python_version": "3.12", "include_serving": True}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "pyproject.toml").write_text(jinja2.Template(source).render(answers) + "\n")
        lock = TEMPLATE / "uv.lock.jinja"
        if lock.is_file() and not args.upgrade:  # keep what is locked: only changes move
            (work / "uv.lock").write_text(lock.read_text().replace(NAME, PLACEHOLDER))
        subprocess.run([uv, "lock", "--quiet"], cwd=work, check=True)
        text = (work / "uv.lock").read_text()
        assert text.count(f'name = "{PLACEHOLDER}"') == 1, "the project's own entry, once"
        lock.write_text(text.replace(f'name = "{PLACEHOLDER}"', f'name = "{NAME}"'))
        for group, path in EXPORTS.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([uv, *export_args(group)], cwd=work, check=True)
            destination = TEMPLATE / FOLDERS[group] / Path(path).name
            shutil.copyfile(target, destination)
            print(f"wrote {destination.relative_to(TEMPLATE.parent)}", file=sys.stderr)
    print(f"wrote {lock.relative_to(TEMPLATE.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
