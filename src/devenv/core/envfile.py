"""A project's .env: read the way compose reads it, created and extended without losing a value.

.env holds the project's secrets. It is git-ignored, so a teammate's clone has only
.env.example: `ensure` writes .env from it with fresh secrets, and adds keys that a template
update brought, without ever touching a value that is already there.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devenv.core.errors import ProjectFileError

PLACEHOLDER = "change-me"
# Compose expands '$' in .env: secrets use only characters that need no quoting.
SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"  # noqa: S105
ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# The one rule for which settings are secrets: .env keys (doctor's redaction, the Kubernetes
# Secret) and client settings (`devenv env`) alike. A connection URL carries its password.
SECRET_KEY = re.compile(
    r"PASSWORD|SECRET|TOKEN|_KEY$|ACCESS_KEY|CREDENTIAL|DATABASE_URL|_DSN$", re.IGNORECASE
)
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")


def is_secret(key: str) -> bool:
    return bool(SECRET_KEY.search(key))


def _value(raw: str) -> str:
    """A value as compose resolves it: quotes removed, an unquoted ' #' starts a comment."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        if end > 0:
            return raw[1:end]
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProjectFileError(
            f"{path} is not UTF-8 text",
            hint="re-save it as UTF-8 (an editor's 'save with encoding'), then run this again",
        ) from None
    except OSError as error:
        raise ProjectFileError(
            f"cannot read {path}: {error.strerror or error}",
            hint=f"give it back to your user: chmod 600 {path} (sudo chown $USER {path})",
        ) from None


def parse(text: str) -> dict[str, str]:
    """KEY=VALUE lines; comments and blank lines skipped; a later line wins, as in compose."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match[1]] = _value(match[2])
    return values


def read_env(path: Path) -> dict[str, str]:
    """The file's settings, or {} when it does not exist."""
    return parse(_read_text(path)) if path.is_file() else {}


def new_secret(key: str) -> str:
    """S3 access keys look like AWS ones (20 upper-case characters); the rest are 40 long."""
    if key.endswith("ACCESS_KEY"):
        return "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(20))
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(40))


def _filled(line: str) -> str:
    """An .env.example line with its placeholder replaced by a fresh secret."""
    match = _LINE.match(line)
    if match and _value(match[2]) == PLACEHOLDER:
        return f"{match[1]}={new_secret(match[1])}"
    return line


def write_private(path: Path, text: str, *, replace: bool = False) -> None:
    """Write a file only its owner can read. Without `replace`, never overwrite one; with it,
    the new content lands whole or not at all (a temporary file renamed over the old)."""
    if not replace:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ProjectFileError(f"{path} already exists; not overwritten") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    import tempfile

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def holds_settings(path: Path) -> bool:
    """Whether .env exists, can be read and sets anything: what the project's data needs."""
    try:
        return path.is_file() and bool(parse(_read_text(path)))
    except ProjectFileError:
        return False


def tighten(path: Path) -> bool:
    """Make an existing .env private (copier writes it with the umask's mode). True if changed."""
    if path.is_file() and path.stat().st_mode & 0o077:
        path.chmod(0o600)
        return True
    return False


@dataclass
class EnvSync:
    created: bool = False
    added: list[str] = field(default_factory=list)


def ensure(root: Path, *, volumes: Sequence[str] = ()) -> EnvSync:
    """.env for the project at `root`: created from .env.example with fresh secrets when
    missing, and given every key .env.example has that it lacks. Existing values stay.

    `volumes`: this project's existing volumes. Their databases were initialised with the
    old secrets, so a new .env would lock the stack out of its own data: refuse instead.
    """
    env_path, example = root / ".env", root / ".env.example"
    if not example.is_file():
        return EnvSync()
    example_text = _read_text(example)
    if not env_path.is_file() or not parse(_read_text(env_path)):
        what = "missing" if not env_path.is_file() else "empty"
        if volumes:
            raise ProjectFileError(
                f".env is {what}, but this project's volumes exist: their databases use the "
                "secrets of the lost .env, so new ones would lock the stack out of its data",
                hint="restore .env from a backup (or a teammate's copy); to start afresh "
                f"instead, delete the data: docker volume rm {' '.join(volumes)}",
            )
        lines = [_filled(line) for line in example_text.splitlines()]
        header = "# Created by devenv from .env.example with fresh secrets. Keep it private.\n"
        write_private(env_path, header + "\n".join(lines) + "\n", replace=env_path.exists())
        return EnvSync(created=True)
    tighten(env_path)
    current_text = _read_text(env_path)
    have = parse(current_text)
    missing = [line for line in example_text.splitlines() if _is_new(line, have)]
    if not missing:
        return EnvSync()
    added = [_filled(line) for line in missing]
    block = "\n# Added by devenv from .env.example (new in the template):\n" + "\n".join(added)
    separator = "" if current_text.endswith("\n") or not current_text else "\n"
    write_private(env_path, current_text + separator + block + "\n", replace=True)
    return EnvSync(added=[line.split("=", 1)[0] for line in added])


def _is_new(line: str, have: dict[str, str]) -> bool:
    match = _LINE.match(line)
    return match is not None and not line.lstrip().startswith("#") and match[1] not in have


@dataclass
class EnvFollow:
    updated: list[str] = field(default_factory=list)  # took the template's new value
    kept: list[str] = field(default_factory=list)  # your own value, left as it was


def follow(env_path: Path, old_example: str, new_example: str) -> EnvFollow:
    """After an update: a setting the template changed (an answer such as the object store or a
    port) follows it in .env, unless you had set your own value, which is kept and reported."""
    old, new = parse(old_example), parse(new_example)
    changed = {k: v for k, v in new.items() if k in old and old[k] != v}
    if not changed or not env_path.is_file():
        return EnvFollow()
    text = _read_text(env_path)
    current = parse(text)
    result = EnvFollow()
    for key in sorted(changed):
        if key not in current:
            continue
        (result.updated if current[key] == old[key] else result.kept).append(key)
    if result.updated:
        lines = []
        for line in text.splitlines():
            match = _LINE.match(line)
            if match and match[1] in result.updated and _value(match[2]) == old[match[1]]:
                line = f"{match[1]}={changed[match[1]]}"
            lines.append(line)
        write_private(env_path, "\n".join(lines) + "\n", replace=True)
    return result


def set_values(env_path: Path, values: dict[str, str]) -> None:
    """Set these keys in .env (the line that wins, else a new line at the end), keeping every
    other line, comment and value; written atomically, mode 600."""
    text = _read_text(env_path)
    lines = text.splitlines()
    last = {}
    for i, line in enumerate(lines):
        match = _LINE.match(line)
        if match and match[1] in values:
            last[match[1]] = i
    for key, value in values.items():
        if key in last:
            lines[last[key]] = f"{key}={value}"
        else:
            lines.append(f"{key}={value}")
    write_private(env_path, "\n".join(lines) + "\n", replace=True)
