"""One error hierarchy. Each error is a one-line message, a hint, and its own exit code.

`devenv.cli.main` is the only place that catches these; the codes are documented in docs/cli.md.
"""

from __future__ import annotations


class DevenvError(Exception):
    """Base class: something the user can act on, never a traceback."""

    exit_code = 1
    label = "failure"

    def __init__(self, message: str, hint: str | None = None, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Diagnostics printed before the one-line error (for example a service's last logs).
        self.details = details


class UsageError(DevenvError):
    """Bad flags or arguments."""

    exit_code = 2
    label = "usage"


class TemplateError(DevenvError):
    """An answer was rejected or the template could not be rendered."""

    exit_code = 3
    label = "answer rejected"


class ProjectNotFoundError(DevenvError):
    """The current folder is not inside a devenv project."""

    exit_code = 4
    label = "not in a project"


class DirtyTreeError(DevenvError):
    """The project has uncommitted changes, so an update could lose work."""

    exit_code = 5
    label = "uncommitted changes"


class UpdateConflictError(DevenvError):
    """An update left conflicts for the user to resolve."""

    exit_code = 6
    label = "update conflicts"


class ToolMissingError(DevenvError):
    """An external tool (git, the docker CLI) is missing."""

    exit_code = 7
    label = "tool missing"


class ToolFailedError(DevenvError):
    """An external tool (kubectl, trivy, npm, git, ...) failed, or did not finish in time."""

    exit_code = 8
    label = "tool failed"


class EngineUnavailableError(DevenvError):
    """No Docker engine answers (not installed, not started, or DOCKER_HOST points nowhere)."""

    exit_code = 10
    label = "engine down"


class UnknownServiceError(DevenvError):
    """A service name that the project's compose.yaml does not define."""

    exit_code = 12
    label = "unknown service"


class StackUnhealthyError(DevenvError):
    """At least one service is not running, not healthy, or fails its probe."""

    exit_code = 13
    label = "stack not working"


class ComposeMissingError(DevenvError):
    """Docker Compose v2 (>= 2.20) is not available as `docker compose`."""

    exit_code = 11
    label = "compose missing"


class PortBusyError(DevenvError):
    """A host port the stack publishes is already taken."""

    exit_code = 14
    label = "port busy"


class ProjectConflictError(DevenvError):
    """Project files hold unresolved merge conflicts (markers or .rej files)."""

    exit_code = 15
    label = "conflicts in files"


class GpuUnavailableError(DevenvError):
    """`--gpu nvidia` was asked for, but the host cannot run the GPU overlay."""

    exit_code = 16
    label = "no GPU"


class BuildFailedError(DevenvError):
    """An image build failed (a base image missing, a package index unreachable, ...)."""

    exit_code = 17
    label = "build failed"


class InterruptedByUserError(DevenvError):
    """Ctrl-C. Typer would exit 130 silently; we say what state things were left in."""

    exit_code = 130
    label = "interrupted"


class SmokeFailedError(DevenvError):
    """A step of the golden path (train, track, store, register, serve) failed."""

    exit_code = 18
    label = "smoke failed"


class DoctorFailedError(DevenvError):
    """At least one doctor check failed."""

    exit_code = 19
    label = "doctor failed"


class ProjectFileError(DevenvError):
    """A project file (.env, the answers file) is unreadable, or would lose data if written."""

    exit_code = 20
    label = "project file"


class ValidationFailedError(DevenvError):
    """Kubernetes manifests that do not build or do not pass a check."""

    exit_code = 21
    label = "manifests invalid"


class ClusterUnavailableError(DevenvError):
    """No Kubernetes cluster answers, or it refused what devenv k8s apply asked of it."""

    exit_code = 22
    label = "cluster unavailable"


class RegistryUnavailableError(DevenvError):
    """The image registry does not answer, or did not keep what was pushed to it."""

    exit_code = 23
    label = "registry unavailable"


class ExecFailedError(DevenvError):
    """`devenv exec`: the command ran and exited non-zero; devenv exits with the same code."""

    exit_code = 1


class DockerCommandError(DevenvError):
    """A docker or compose command ran and failed for a reason of its own (not a missing
    engine or CLI): its stderr and exit code travel with the one-line message."""

    def __init__(self, message: str, *, stderr: str = "", return_code: int | None = None) -> None:
        super().__init__(message, hint="docker compose's own output is above; devenv doctor")
        self.stderr = stderr
        self.return_code = return_code


def shorten(text: object, limit: int = 60) -> str:
    """A user's value as an error echoes it: whole when short, else its start and its length
    (a 10,000-character argument must not fill the terminal)."""
    value = str(text)
    if len(value) <= limit:
        return value
    return f"{value[: limit - 1]}… ({len(value)} characters)"


def exit_codes() -> list[tuple[int, str]]:
    """(code, label) for every error class, for --help and docs: one place for them."""
    found = {0: "ok"}
    classes: list[type[DevenvError]] = [DevenvError, *_subclasses(DevenvError)]
    for cls in classes:
        label = cls.__dict__.get("label")
        if label:
            found.setdefault(cls.exit_code, str(label))
    return sorted(found.items())


def _subclasses(cls: type[DevenvError]) -> list[type[DevenvError]]:
    found: list[type[DevenvError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
