"""The other lifecycle verbs: down, restart, reset (which deletes data, so it plans first),
ps, exec, logs and the URL to open."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from devenv.core import services
from devenv.core.errors import ExecFailedError, StackUnhealthyError, UsageError
from devenv.core.services import check_names
from devenv.docker.engine import Engine
from devenv.docker.records import Container
from devenv.stack.status import MISSING

# ---------------------------------------------------------------- reset


@dataclass(frozen=True)
class VolumePlan:
    volume: str  # the engine's name, e.g. myproj_postgres-data
    services: tuple[str, ...]


def reset_plan(engine: Engine, names: list[str]) -> list[VolumePlan]:
    """The named volumes that `reset` would delete, with the services that use them."""
    config = engine.config
    check_names(services.from_config(config), names)
    users: dict[str, list[str]] = {}
    for service, spec in config["services"].items():
        for mount in spec.get("volumes") or []:
            if mount.get("type") == "volume" and mount.get("source"):
                users.setdefault(mount["source"], []).append(service)
    plans = []
    for key, spec in (config.get("volumes") or {}).items():
        used_by = tuple(sorted(users.get(key, [])))
        if names and not set(used_by) & set(names):
            continue
        plans.append(VolumePlan(str((spec or {}).get("name") or key), used_by))
    return plans


def dependents(config: dict[str, Any], names: set[str]) -> set[str]:
    """The services that depend on these, directly or not (compose's depends_on)."""
    found = set(names)
    while True:
        more = {
            service
            for service, spec in config["services"].items()
            if service not in found and set(spec.get("depends_on") or {}) & found
        }
        if not more:
            return found
        found |= more


def reset(engine: Engine, plans: list[VolumePlan], names: list[str]) -> list[str]:
    """Stop the services using the volumes, then delete the volumes. Returns what was deleted.
    What depends on them is removed too, so the next `up` starts it against the fresh data
    (MLflow would otherwise keep its connection to a database without its tables)."""
    engine.require()
    if not names:
        engine.down(volumes=True)
    else:
        users = {s for plan in plans for s in plan.services}
        engine.remove(sorted(dependents(engine.config, users)), volumes=True)
        engine.remove_volumes([p.volume for p in plans])
    return [p.volume for p in plans]


# ---------------------------------------------------------------- ps, exec, open


def ps(engine: Engine) -> list[Container]:
    """Every container of the project, one-shot init containers included, by service."""
    return sorted(engine.containers(), key=lambda c: c.service)


# A login shell where the image has one: bash when installed, else sh.
DEFAULT_SHELL = ["sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash || exec sh"]


def exec_in(engine: Engine, service: str, command: list[str], *, tty: bool) -> str | None:
    """Run a command in a running service: on a terminal with a TTY (output live), else with
    output captured and returned. A non-zero exit becomes an error carrying its code."""
    check_names(services.from_config(engine.config), [service])
    if not engine.states().get(service, MISSING).running:
        raise StackUnhealthyError(
            f"{service} is not running", hint=f"start it with: devenv up {service}"
        )
    result = engine.exec(service, command or DEFAULT_SHELL, tty=tty)
    if not result.ok:
        failed = ExecFailedError(
            f"`{' '.join(command) or 'shell'}` exited with {result.code} in {service}",
            hint=f"its output is above; devenv logs {service} shows the service's own log",
            details=(result.stderr or result.stdout).rstrip() or None,
        )
        failed.exit_code = result.code
        raise failed
    return None if tty else result.stdout


def service_url(engine: Engine, service: str, *, console_url: bool = False) -> str:
    """The URL to open for a service: JupyterLab with its token, a console when asked."""
    known = services.from_config(engine.config)
    check_names(known, [service])
    found = next(s for s in known if s.name == service)
    url = found.console if console_url else found.url
    if not url:
        what = "web console" if console_url else "web page"
        with_one = [s.name for s in known if (s.console if console_url else s.url)]
        raise UsageError(
            f"{service} has no {what}", hint="services with one: " + ", ".join(with_one)
        )
    if found.probe == "jupyter" and not console_url:
        token = engine.env.get("JUPYTER_TOKEN")
        url = f"{url}?token={token}" if token else url
    return url


def down(engine: Engine) -> list[Container] | None:
    """Stop and remove the containers; volumes (the data) are kept. With .env missing, empty
    or unreadable compose cannot read the project, so its containers are found by compose's
    labels instead: those are returned (None when compose did the work)."""
    from devenv.core import envfile

    engine.require()
    assert engine.project is not None
    if envfile.holds_settings(engine.project.root / ".env"):
        engine.down()
        return None
    found = engine.labelled()
    engine.stop_containers([c.id for c in found])
    return found


def restart(engine: Engine, names: list[str]) -> list[str]:
    """Restart running services (all by default); the ones restarted. A service that is not
    running cannot be restarted: say so, and how to start it, rather than claim success."""
    known = services.from_config(engine.config)
    check_names(known, names)
    engine.require()
    states = engine.states()
    wanted = names or [s.name for s in known if s.profile is None or s.name in states]
    stopped = [n for n in wanted if not states.get(n, MISSING).running]
    if stopped:
        whole = not names and len(stopped) == len(wanted)
        who = (
            "the stack is"
            if whole
            else ", ".join(stopped) + (" is" if len(stopped) == 1 else " are")
        )
        raise StackUnhealthyError(
            f"{who} not running, so nothing was restarted",
            hint=f"start it with: devenv up {' '.join(names)}".rstrip(),
        )
    engine.restart(names)
    return wanted


def logs(
    engine: Engine, service: str | None, *, follow: bool, since: str | None, tail: int
) -> Iterator[str]:
    """Log text of one service or all, streamed as it comes."""
    check_names(services.from_config(engine.config), [service] if service else [])
    engine.require()
    return engine.logs([service] if service else [], follow=follow, since=since, tail=tail)
