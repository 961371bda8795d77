"""One result type for every check devenv makes: preflight, doctor, status, gpu-check, smoke
and onboard. One shape on the terminal (render.results) and one in JSON (report)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from devenv.core.errors import DevenvError

Status = Literal["ok", "warn", "fail", "skip"]
STATUSES = ("ok", "warn", "fail", "skip")


@dataclass
class Result:
    name: str
    status: Status  # ok: works; warn: works, with a caveat; fail; skip: not run
    detail: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    # The error a failing preflight result becomes when a command must stop on it.
    error: type[DevenvError] = field(default=DevenvError, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
        }
        if self.seconds is not None:
            found["seconds"] = round(self.seconds, 3)
        if self.data:
            found["data"] = self.data
        return found

    def raise_if_failed(self) -> None:
        """Stop a command on this result: its own error class, its detail and fix."""
        if self.failed:
            raise self.error(self.detail, hint=self.fix)


def ok(name: str, detail: str, **data: Any) -> Result:
    return Result(name, "ok", detail, data=data)


def fail(
    name: str, detail: str, fix: str | None = None, error: type[DevenvError] = DevenvError
) -> Result:
    return Result(name, "fail", detail, fix, error=error)


def from_error(name: str, error: DevenvError) -> Result:
    """A raised error as a failing result (doctor shows what `up` would stop on)."""
    return Result(name, "fail", error.message, error.hint, error=type(error))


def first_failure(results: Iterable[Result]) -> Result | None:
    return next((r for r in results if r.failed), None)


def report(results: Iterable[Result], **extra: Any) -> dict[str, Any]:
    """The one JSON shape: {"ok": no result failed, ...extra, "results": [...]}."""
    listed = list(results)
    return {
        "ok": not any(r.failed for r in listed),
        **extra,
        "results": [r.as_dict() for r in listed],
    }
