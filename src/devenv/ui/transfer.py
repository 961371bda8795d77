"""A bytes progress bar on stderr for backup and restore (nothing when stderr is not a
terminal: scripts get the one-line summary and --json)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

OnBytes = Callable[[int, int, str], None]


@contextmanager
def bar(title: str) -> Iterator[OnBytes]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from devenv.ui import console

    err = console.err
    if not err.is_terminal:
        yield lambda _done, _total, _what: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(title, total=None)

        def update(done: int, total: int, what: str) -> None:
            shown = what if len(what) <= 40 else "…" + what[-39:]
            progress.update(
                task, completed=done, total=total or None, description=f"{title}: {shown}"
            )

        yield update
