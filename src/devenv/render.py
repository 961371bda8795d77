"""How results look on a terminal: one vocabulary of marks and one table shape for status,
doctor, gpu-check, smoke, ps and onboard. `--json` bypasses all of this."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devenv.doctor import Check
    from devenv.gpu_check import GpuReport
    from devenv.onboard import Phase
    from devenv.smoke import Step
    from devenv.stack import ContainerRow, ServiceStatus

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


def status(results: list[ServiceStatus]) -> Any:
    return table(
        ("", "service", "state", "health", "probe", "ms"),
        (
            (
                mark(r.ok),
                r.service.name,
                r.state,
                r.health or "-",
                r.probe.detail if r.probe else "-",
                f"{r.probe.latency_ms:.0f}" if r.probe else "",
            )
            for r in results
        ),
    )


def doctor(checks: list[Check]) -> Any:
    return table(
        ("", "check", "detail"),
        (
            (mark(c.status), c.name, with_fix(c.detail, c.fix if c.status != "ok" else None))
            for c in checks
        ),
        wrap="detail",
    )


def gpu(report: GpuReport) -> Any:
    # A missing GPU layer is a warning, not a failure: the CPU path still works.
    return table(
        ("", "layer", "detail"),
        (
            (mark("ok" if a.ok else "warn"), a.name, with_fix(a.detail, a.fix))
            for a in report.layers
        ),
        wrap="detail",
    )


def smoke(steps: list[Step]) -> Any:
    return table(
        ("", "step", "s", "detail"),
        ((mark(s.ok), s.name, f"{s.seconds:.1f}", s.detail) for s in steps),
        wrap="detail",
    )


def ps(rows: list[ContainerRow]) -> Any:
    return table(
        ("service", "state", "health", "ports"),
        (
            (
                r.service,
                r.state + (f" ({r.exit_code})" if r.exit_code is not None else ""),
                r.health or "-",
                ", ".join(r.ports) or "-",
            )
            for r in rows
        ),
        wrap="ports",
    )


def phase(p: Phase) -> str:
    outcome = {"done": "ok", "skipped": "skip", "failed": "fail"}[p.status]
    from rich.markup import escape

    return f"{mark(outcome, 4)} {p.name:<10} {p.seconds:6.1f}s  {escape(p.detail)}"
