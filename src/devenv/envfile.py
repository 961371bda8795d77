"""Reading a project's .env the way compose does for the simple KEY=VALUE lines we write."""

from __future__ import annotations

from pathlib import Path


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; comments and blank lines skipped; a later line wins, as in compose."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key, value = stripped.split("=", 1)
            values[key.strip()] = value.strip()
    return values
