"""Where output goes: data to stdout, chatter (progress, errors, hints) to stderr.

rich honours NO_COLOR and non-terminal outputs by itself; `--json` output bypasses markup.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    out: Console
    err: Console

# Made on first use: importing rich costs tens of milliseconds that --help and --version and
# every plain exit do not need.
_consoles: dict[str, Console] = {}


def _console(name: str) -> Console:
    if name not in _consoles:
        from rich.console import Console

        if name == "out":
            console = Console(highlight=False, soft_wrap=True)
            if not console.is_terminal:
                # Piped data must not be folded at 80 columns: URLs and DSNs stay whole.
                console.width = 200
        else:
            console = Console(stderr=True, highlight=False, soft_wrap=True)
        _consoles[name] = console
    return _consoles[name]


def __getattr__(name: str) -> Any:
    """`console.out` (data, stdout) and `console.err` (chatter, stderr), made when first used."""
    if name in ("out", "err"):
        return _console(name)
    raise AttributeError(name)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colour, no wrapping."""
    stream = _console("out").file
    stream.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    stream.flush()


def print_urls(rows: list[tuple[str, str]]) -> None:
    """Title and URL per row, aligned when they fit the terminal. A URL is never cut or broken
    by us: on a narrow terminal each row is one plain line the terminal itself wraps, so a
    click or a copy still gets the whole URL."""
    if not rows:
        return
    pad = max(len(title) for title, _ in rows)
    out = _console("out")
    fits = pad + 2 + max(len(url) for _, url in rows) <= out.width
    for title, url in rows:
        line = f"{title:<{pad}}  {url}" if fits else f"{title}: {url}"
        out.print(line, soft_wrap=True, markup=False, highlight=False)


# An error is one line a person reads: whatever it quotes, it never floods the terminal.
MAX_MESSAGE = 400


def _capped(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else f"{text[: MAX_MESSAGE - 1]}…"


def error(message: str, hint: str | None = None) -> None:
    _console("err").print(f"[bold red]error:[/] {escape(_capped(message))}")
    if hint:
        _console("err").print(f"[dim]hint:[/] {escape(_capped(hint))}")


def info(message: str) -> None:
    _console("err").print(escape(message))


def warn(message: str) -> None:
    _console("err").print(f"[yellow]warning:[/] {escape(message)}")


def success(message: str) -> None:
    _console("err").print(f"[green]✓[/] {escape(message)}")


class LiveTable:
    """Progress on stderr: a live-updating table on a terminal, one line per change otherwise."""

    def __init__(self) -> None:
        self._live: Any = None
        self._seen: dict[str, str] = {}

    def __enter__(self) -> LiveTable:
        err = _console("err")
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
                _console("err").print(f"  {name}: {phase}", markup=False)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
