"""The `devenv` console script. `--version` is answered before the CLI framework loads (it is
what scripts and bug reports call most); everything else goes to devenv.cli."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from devenv import __version__

        sys.stdout.write(f"devenv {__version__}\n")
        return
    from devenv.cli import main as run

    run()
