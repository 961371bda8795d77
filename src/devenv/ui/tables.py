"""How results look on a terminal: one vocabulary of marks and one table shape for status,
doctor, gpu-check, smoke and onboard (devenv.core.result), plus ps and the progress
of `devenv up`. `--json` bypasses all of this."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devenv.core.result import Result
    from devenv.docker.progress import Progress
    from devenv.docker.records import Container

# One word per outcome, everywhere: ok (it works), warn (works, with a caveat), FAIL, - (skipped).
MARKS = {
    "ok": "[green]ok[/]",
    "warn": "[yellow]warn[/]",
    "fail": "[red]FAIL[/]",
    "skip": "[dim]-[/]",
}


def mark(outcome: str | bool | None, width: int = 0) -> str:
    """A mark for an outcome: a word above, or True (ok) / False (fail) / None (skipped),
    padded to `width` visible characters for lines that must align."""
    if isinstance(outcome, bool) or outcome is None:
        outcome = {True: "ok", False: "fail", None: "skip"}[outcome]
    visible = {"skip": 1}.get(outcome, len(outcome))
    return MARKS[outcome] + " " * max(0, width - visible)


def with_fix(detail: str, fix: str | None) -> str:
    from rich.markup import escape

    return escape(detail) + (f"\n[dim]fix: {escape(fix)}[/]" if fix else "")


def table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, wrap: str = "") -> Any:
    """A borderless table; every column but `wrap` stays on one line (names, states, URLs)."""
    from rich.table import Table

    shown = Table(box=None, header_style="bold", show_header=any(columns))
    for column in columns:
        shown.add_column(column, no_wrap=column != wrap)
    for row in rows:
        shown.add_row(*row)
    return shown


# Below this many columns a table has no room left for the detail: results are stacked.
NARROW = 60


class _Adaptive:
    """A table where there is room, one result under another where there is not (a narrow
    terminal must still show every detail and fix, not squeeze them out)."""

    def __init__(self, items: Sequence[Result], header: str, columns: Sequence[str]) -> None:
        self.items, self.header, self.columns = items, header, columns

    def __rich_console__(self, console: Any, options: Any) -> Any:
        if options.max_width >= NARROW:
            yield _results_table(self.items, self.header, self.columns)
            return
        yield from stacked(console, self.items, self.columns, options.max_width)


def stacked(console: Any, items: Sequence[Result], columns: Sequence[str], width: int) -> Any:
    """Each result as a line (mark and name), then its detail and fix, wrapped by us (the
    console does not wrap: URLs must stay whole), indented under it."""
    from rich.markup import escape
    from rich.text import Text

    for r in items:
        extra = [f"{c} {r.data[c]}" for c in columns if r.data.get(c) is not None]
        timed = [f"{r.seconds:.1f}s"] if r.seconds is not None else []
        yield Text.from_markup(f"{mark(r.status)} {escape(' '.join([r.name, *extra, *timed]))}")
        body = Text.from_markup(with_fix(r.detail, r.fix if r.status != "ok" else None))
        for line in body.wrap(console, max(10, width - 2), overflow="fold"):
            yield Text("  ") + line


def results(items: Sequence[Result], *, header: str = "check", columns: Sequence[str] = ()) -> Any:
    """The one table for results (status, doctor, gpu-check, smoke): a mark, the name, the
    chosen `data` columns, seconds when timed, and the detail with its fix when not ok."""
    return _Adaptive(items, header, columns)


def _results_table(items: Sequence[Result], header: str, columns: Sequence[str]) -> Any:
    timed = any(r.seconds is not None for r in items)
    return table(
        ("", header, *columns, *(("s",) if timed else ()), "detail"),
        (
            (
                mark(r.status),
                r.name,
                *(str(r.data.get(c) if r.data.get(c) is not None else "-") for c in columns),
                *((f"{r.seconds or 0:.1f}",) if timed else ()),
                with_fix(r.detail, r.fix if r.status != "ok" else None),
            )
            for r in items
        ),
        wrap="detail",
    )


def ps(containers: list[Container]) -> Any:
    return table(
        ("service", "state", "health", "ports"),
        (
            (
                c.service,
                c.state + (f" ({c.exit_code})" if c.state == "exited" else ""),
                c.health or "-",
                ", ".join(c.as_dict()["ports"]) or "-",
            )
            for c in containers
        ),
        wrap="ports",
    )


def line(r: Result) -> str:
    """One result as a line, for phases printed as they finish (onboard)."""
    from rich.markup import escape

    seconds = f"{r.seconds:6.1f}s" if r.seconds is not None else ""
    return f"{mark(r.status, 4)} {r.name:<10} {seconds}  {escape(r.detail)}"


# The compose phases `devenv up` shows, coloured: done green, failed red, the rest yellow.
PHASE_STYLE = {
    "Healthy": "green",
    "Running": "green",
    "Exited": "cyan",
    "Error": "red",
    "Unhealthy": "red",
}


def progress(state: Progress) -> Any:
    """`devenv up`'s live table: a row per service, its phase and what it is doing."""
    from rich.table import Table

    from devenv.docker.progress import DONE

    table = Table(box=None, header_style="bold")
    table.add_column("service", no_wrap=True)
    table.add_column("phase", no_wrap=True)
    table.add_column("detail", overflow="ellipsis", no_wrap=True)
    for name, row in state.rows.items():
        style = PHASE_STYLE.get(row.phase, "yellow" if row.phase not in DONE else "green")
        table.add_row(name, f"[{style}]{row.phase}[/]", row.detail)
    return table
