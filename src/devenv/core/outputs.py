"""Files a command writes where the user tells it (`doctor --report`, `k8s render -o`, backup
archives): never one of the project's own files unless `--force`, and whole or not at all.

`check` runs before the command does any work, so a refused or impossible path changes
nothing; `write` lands the content through a temporary file in the same folder, renamed into
place only once it is complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from devenv.core import proc
from devenv.core.errors import ProjectFileError, UsageError, shorten
from devenv.core.project import ANSWERS_FILE, COMPOSE_FILE, GPU_OVERLAY, USER_OVERRIDE

# Lost with no copy in git (.env is git-ignored) or the project itself: never a command's output.
PROTECTED = (".env", ".env.example", ANSWERS_FILE, COMPOSE_FILE, GPU_OVERLAY, USER_OVERRIDE)


def _tracked(root: Path, path: Path) -> bool:
    """Whether git tracks this file in the project's repository (False without git)."""
    if proc.which("git") is None:
        return False
    done = proc.run(
        ["git", "-C", str(root), "ls-files", "--error-unmatch", "--", str(path)],
        timeout=10,
        what="git ls-files",
    )
    return done.ok


def check(path: Path, *, root: Path | None, force: bool, flag: str, new: bool = False) -> Path:
    """The absolute path to write, or a one-line refusal: a project file (unless `force`), a
    folder, a place that cannot be written, or (`new`) any existing file unless `force`.
    Nothing is written here."""
    target = path.expanduser().absolute()
    shown = shorten(path, 200)
    if target.is_dir():
        raise UsageError(f"{flag} {shown} is a folder", hint=f"give {flag} a file name")
    if new and target.exists() and not force:
        raise UsageError(
            f"{shown} already exists", hint="pick a new file name, or add --force to replace it"
        )
    parent = target.parent
    if not parent.is_dir():
        raise UsageError(
            f"cannot write {shown}: the folder {shorten(parent, 200)} does not exist",
            hint="create the folder first, or pick a file in an existing one",
        )
    try:  # the one sure test (permissions, read-only mounts, /proc): make a file there
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".probe")
        os.close(fd)
        Path(probe).unlink()
    except OSError as error:
        raise UsageError(
            f"cannot write {shown}: {shorten(parent, 200)} is not writable "
            f"({error.strerror or error})",
            hint="pick a file in a folder you can write to",
        ) from None
    if root is not None and not force:
        home = root.resolve()
        resolved = target.resolve()
        if resolved.parent == home and resolved.name in PROTECTED:
            raise ProjectFileError(
                f"{flag} {shown} would overwrite the project's {resolved.name}",
                hint="write somewhere else (add --force only if you mean to replace it)",
            )
        if resolved.is_file() and resolved.is_relative_to(home) and _tracked(home, resolved):
            raise ProjectFileError(
                f"{flag} {shown} would overwrite a file git tracks in this project",
                hint="write somewhere else (add --force only if you mean to replace it)",
            )
    return target


@contextmanager
def atomic(target: Path, *, private: bool = False) -> Iterator[BinaryIO]:
    """A binary handle whose content becomes `target` only if the block completes: an error or
    Ctrl-C leaves `target` as it was and no temporary file behind. `private`: mode 0600."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        if not private:
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write(target: Path, text: str, *, private: bool = False) -> None:
    """Text written whole or not at all (see `atomic`); an OS failure is one line."""
    with writing(target), atomic(target, private=private) as handle:
        handle.write(text.encode("utf-8"))


@contextmanager
def writing(target: Path) -> Iterator[None]:
    """The OS's refusal while writing `target` (disk full, permissions) as one line naming it."""
    try:
        yield
    except OSError as error:
        raise UsageError(
            f"cannot write {shorten(target, 200)}: {error.strerror or error}",
            hint="free disk space or pick a file in a folder you can write to (nothing was "
            "left behind)",
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
