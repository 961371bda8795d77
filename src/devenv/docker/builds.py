"""What compose builds, read from its own configuration, and the content tag of each image.

A content tag names an image by what determines it: the files Docker would send as its build
context (after `.dockerignore`), the Dockerfile, the build arguments that change what is built,
the target stage and a pinned platform. Same inputs, same tag, on every machine: that is what
lets a laptop pull the image CI (or a teammate) already built instead of building it again.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from devenv.core.errors import BuildFailedError

# Bump when the recipe changes: every tag changes with it, never silently half of them.
RECIPE = "devenv-content-tag/1"
PREFIX = "c-"
# Arguments that do not change what is built: Docker's predefined proxy arguments (kept out of
# the image and of its cache key by Docker itself), the package index (a mirror serves the
# same pinned files, and pip checks them), and BuildKit's inline-cache switch (metadata only).
NEUTRAL_ARGS = frozenset(
    {
        *(p + "_PROXY" for p in ("HTTP", "HTTPS", "FTP", "NO", "ALL")),
        *(p.lower() + "_proxy" for p in ("HTTP", "HTTPS", "FTP", "NO", "ALL")),
        "PIP_INDEX_URL",
        "BUILDKIT_INLINE_CACHE",
    }
)


@dataclass(frozen=True)
class BuildSpec:
    image: str
    services: tuple[str, ...]
    context: Path
    dockerfile: Path
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)  # id -> file on the host
    platform: str | None = None  # compose's `platform:` for the service, when pinned


def _secret_file(config: dict[str, Any], name: str) -> str | None:
    """A secret's file, or None for the empty stand-in (buildah leaves the mount out, as
    BuildKit leaves it empty: the Dockerfiles test `-s`)."""
    source = (config.get("secrets") or {}).get(name, {}).get("file")
    if not source or source == os.devnull or not Path(source).is_file():
        return None
    return str(source) if Path(source).stat().st_size else None


def specs(config: dict[str, Any], services: Iterable[str]) -> list[BuildSpec]:
    """One build per image tag (bucket-init, trust-init and mlflow share one)."""
    found: dict[str, BuildSpec] = {}
    for name in sorted(services):
        service = config["services"].get(name) or {}
        build, image = service.get("build"), service.get("image")
        if not build or not image:
            continue
        if image in found:
            spec = found[image]
            found[image] = BuildSpec(**{**spec.__dict__, "services": (*spec.services, name)})
            continue
        context = Path(build.get("context", "."))
        secrets = {}
        for entry in build.get("secrets") or []:
            secret = entry.get("source") if isinstance(entry, dict) else str(entry)
            if secret and (source := _secret_file(config, secret)):
                secrets[secret] = source
        args = {k: str(v) for k, v in (build.get("args") or {}).items() if v is not None}
        found[image] = BuildSpec(
            image=image,
            services=(name,),
            context=context,
            dockerfile=context / build.get("dockerfile", "Dockerfile"),
            args=args,
            target=build.get("target"),
            secrets=secrets,
            platform=service.get("platform"),
        )
    return list(found.values())


# ---------------------------------------------------------------- .dockerignore


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # `**/` is zero or more folders
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(c)
            else:
                body = pattern[i + 1 : end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def ignore_rules(text: str) -> list[tuple[bool, str]]:
    """(exclusion, cleaned pattern) per line, as Docker reads them; comments and blanks skipped."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        line = line[1:].strip() if keep else line
        cleaned = os.path.normpath(line).replace(os.sep, "/").lstrip("/")
        if cleaned and cleaned != ".":
            rules.append((keep, cleaned))
    return rules


def ignored(path: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether Docker leaves `path` (relative, `/`-separated) out of the context: the last rule
    that matches the path or one of its parent folders decides."""
    parents = [path]
    parts = path.split("/")
    parents += ["/".join(parts[:n]) for n in range(1, len(parts))]
    result = False
    for keep, pattern in rules:
        regex = _pattern(pattern)
        if any(regex.match(candidate) for candidate in parents):
            result = not keep
    return result


def context_files(context: Path) -> Iterator[Path]:
    """The files of a build context that Docker sends, in a stable order."""
    ignore_file = context / ".dockerignore"
    rules = ignore_rules(ignore_file.read_text(encoding="utf-8")) if ignore_file.is_file() else []
    for folder, dirs, files in os.walk(context):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            relative = path.relative_to(context).as_posix()
            if not ignored(relative, rules):
                yield path


# ---------------------------------------------------------------- the tag


def _mode(path: Path) -> str:
    """The executable bit (COPY keeps it); Windows has none to give, so it counts as unset."""
    return "x" if os.name != "nt" and path.stat().st_mode & 0o100 else "-"


def content_tag(spec: BuildSpec) -> str:
    """`c-` and 20 hex digits of a SHA-256 over everything that determines the image."""
    digest = hashlib.sha256()

    def put(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big") + data)

    put(RECIPE)
    files = list(context_files(spec.context))
    # Docker always sends the Dockerfile and .dockerignore, whatever .dockerignore says.
    for extra in (spec.dockerfile, spec.context / ".dockerignore"):
        if extra.is_file() and extra not in files:
            files.append(extra)
    for path in files:
        inside = path.is_relative_to(spec.context)
        where = path.relative_to(spec.context).as_posix() if inside else path.name
        try:
            put("file", where, _mode(path), path.read_bytes())
        except OSError as error:
            raise BuildFailedError(
                f"cannot read {path} of {spec.image}'s build context: {error.strerror}",
                hint="docker could not send it either: fix its owner or mode, or list it in "
                f"{spec.context / '.dockerignore'}",
            ) from None
    put("dockerfile", spec.dockerfile.name)
    for key in sorted(k for k in spec.args if k not in NEUTRAL_ARGS):
        put("arg", key, spec.args[key])
    put("target", spec.target or "", "platform", spec.platform or "")
    return PREFIX + digest.hexdigest()[:20]
