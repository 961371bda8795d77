"""Saying what a slow step waits for, while it waits. Lower layers cannot print (the ui layer
does): they wrap a wait in `waiting(...)`, and when it lasts more than a few seconds the
listener that the CLI registered says the line once. No listener (tests, library use): silence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

AFTER_S = 3.0
_listeners: list[Callable[[str], None]] = []


def listen(callback: Callable[[str], None]) -> None:
    """Where waiting lines go (the CLI passes its stderr console); one listener at a time."""
    _listeners[:] = [callback]


def say(text: str) -> None:
    for callback in list(_listeners):
        callback(text)


@contextmanager
def waiting(text: str, *, after: float = AFTER_S) -> Iterator[None]:
    """Say `text` once if the block is still running after `after` seconds."""
    if not _listeners:
        yield
        return
    timer = threading.Timer(after, say, args=(f"waiting: {text}…",))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
