"""Where devenv keeps what it reuses between runs on this machine (never inside a project)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """DEVENV_CACHE_DIR, else the XDG cache folder: the template cache, the CRD validators."""
    if env := os.environ.get("DEVENV_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "devenv"
