"""Where output goes: data to stdout, chatter (progress, errors, hints) to stderr.

rich honours NO_COLOR and non-terminal outputs by itself; `--json` output bypasses markup.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    # Piped data must not be folded at 80 columns: URLs and DSNs stay whole.
    out.width = 200
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colour, no wrapping."""
    out.file.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    out.file.flush()


def print_urls(rows: list[tuple[str, str]]) -> None:
    """Title and URL per row, aligned when they fit the terminal. A URL is never cut or broken
    by us: on a narrow terminal each row is one plain line the terminal itself wraps, so a
    click or a copy still gets the whole URL."""
    if not rows:
        return
    pad = max(len(title) for title, _ in rows)
    fits = pad + 2 + max(len(url) for _, url in rows) <= out.width
    for title, url in rows:
        line = f"{title:<{pad}}  {url}" if fits else f"{title}: {url}"
        out.print(line, soft_wrap=True, markup=False, highlight=False)


def error(message: str, hint: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}")


def info(message: str) -> None:
    err.print(escape(message))


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}")


def success(message: str) -> None:
    err.print(f"[green]✓[/] {escape(message)}")


class LiveTable:
    """Progress on stderr: a live-updating table on a terminal, one line per change otherwise."""

    def __init__(self) -> None:
        self._live: Any = None
        self._seen: dict[str, str] = {}

    def __enter__(self) -> LiveTable:
        if err.is_terminal:
            from rich.live import Live

            self._live = Live(console=err, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def update(self, table: Any, rows: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.update(table)
            return
        for name, row in rows.items():
            phase = str(getattr(row, "phase", row))
            if self._seen.get(name, "pending") != phase:
                self._seen[name] = phase
                err.print(f"  {name}: {phase}", markup=False)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
