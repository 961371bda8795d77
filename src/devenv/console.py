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


def error(message: str, hint: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}")


def info(message: str) -> None:
    err.print(escape(message))


def success(message: str) -> None:
    err.print(f"[green]✓[/] {escape(message)}")
