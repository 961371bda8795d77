"""One error hierarchy. Each error is a one-line message, a hint, and its own exit code.

`cli.main` is the only place that catches these; the codes are documented in docs/cli.md.
"""

from __future__ import annotations


class DevenvError(Exception):
    """Base class: something the user can act on, never a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Diagnostics printed before the one-line error (for example a service's last logs).
        self.details = details


class UsageError(DevenvError):
    """Bad flags or arguments."""

    exit_code = 2


class TemplateError(DevenvError):
    """An answer was rejected or the template could not be rendered."""

    exit_code = 3


class ProjectNotFoundError(DevenvError):
    """The current folder is not inside a devenv project."""

    exit_code = 4


class DirtyTreeError(DevenvError):
    """The project has uncommitted changes, so an update could lose work."""

    exit_code = 5


class UpdateConflictError(DevenvError):
    """An update left conflicts for the user to resolve."""

    exit_code = 6


class ToolMissingError(DevenvError):
    """An external tool (git) is missing."""

    exit_code = 7


class EngineUnavailableError(DevenvError):
    """No Docker engine answers (not installed, not started, or DOCKER_HOST points nowhere)."""

    exit_code = 10


class UnknownServiceError(DevenvError):
    """A service name that the project's compose.yaml does not define."""

    exit_code = 12


class StackUnhealthyError(DevenvError):
    """At least one service is not running, not healthy, or fails its probe."""

    exit_code = 13


class ComposeMissingError(DevenvError):
    """Docker Compose v2 (>= 2.20) is not available as `docker compose`."""

    exit_code = 11


class PortBusyError(DevenvError):
    """A host port the stack publishes is already taken."""

    exit_code = 14


class ProjectConflictError(DevenvError):
    """Project files hold unresolved merge conflicts (markers or .rej files)."""

    exit_code = 15


class GpuUnavailableError(DevenvError):
    """`--gpu on` was asked for, but the host cannot run the GPU overlay."""

    exit_code = 16


class BuildFailedError(DevenvError):
    """An image build failed (a base image missing, a package index unreachable, ...)."""

    exit_code = 17


class InterruptedByUserError(DevenvError):
    """Ctrl-C. Typer would exit 130 silently; we say what state things were left in."""

    exit_code = 130


class SmokeFailedError(DevenvError):
    """A step of the golden path (train, track, store, register, serve) failed."""

    exit_code = 18


class DoctorFailedError(DevenvError):
    """At least one doctor check failed."""

    exit_code = 19


class ProjectFileError(DevenvError):
    """A project file (.env, the answers file) is unreadable, or would lose data if written."""

    exit_code = 20
