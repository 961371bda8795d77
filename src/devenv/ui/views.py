"""What each command shows once its use case has run: a human summary on the terminal, or the
one JSON shape (devenv.core.result.report) with `--json`. Data to stdout, chatter to stderr.

No Docker and no policy here: the use cases (stack, doctor, smoke, gpu_check, onboard,
scaffold) decide; this module only says it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devenv.core.errors import UsageError
from devenv.core.result import report
from devenv.ui import console, tables

if TYPE_CHECKING:
    from devenv.core.result import Result
    from devenv.core.services import Service
    from devenv.docker.records import Container
    from devenv.ml.gpu.check import GpuReport
    from devenv.ml.onboard import OnboardResult
    from devenv.release.canary.flow import CanaryStatus
    from devenv.scaffold.deps import Locked
    from devenv.scaffold.new import NewResult
    from devenv.scaffold.update import UpdateResult
    from devenv.stack.backup import BackupResult
    from devenv.stack.lifecycle import VolumePlan
    from devenv.stack.platforms import Platform
    from devenv.stack.pull import ImagePlan
    from devenv.stack.restore import RestoreResult
    from devenv.stack.start import UpResult
    from devenv.stack.status import ServiceStatus


def new(result: NewResult, seconds: float, *, as_json: bool) -> None:
    if as_json:
        answers = {k: v for k, v in result.answers.items() if not k.startswith("_")}
        console.print_json(
            {
                "path": str(result.dest),
                "template": result.template,
                "ref": result.ref,
                "git": result.git_initialised,
                "answers": answers,
                "seconds": round(seconds, 3),
            }
        )
        return
    console.success(f"created {result.dest} in {seconds:.1f}s (template {result.ref or 'local'})")
    console.info("secrets were generated into .env (git-ignored)")
    console.info(f"next: cd {result.dest} && devenv up")
    console.out.print(str(result.dest))


def update(result: UpdateResult, *, as_json: bool) -> None:
    if as_json:
        console.print_json(
            {
                "path": str(result.root),
                "from": result.old_ref,
                "to": result.new_ref,
                "changed": result.changed,
                "kept": result.kept,
                "env_added": result.env.added,
                "env_updated": result.env_follow.updated,
                "env_kept": result.env_follow.kept,
                "answers_changed": {k: list(v) for k, v in result.answers.items()},
                "data_images_changed": {k: list(v) for k, v in result.data_images.items()},
                "requirements_to_move": {k: v[1] for k, v in result.migrate.items()},
            }
        )
        return
    for name in result.kept:
        if name in result.migrate:
            group, pins = result.migrate[name]
            move = (
                f"your pins the lock lacks: {', '.join(pins)}; move them with: devenv add "
                f"{' '.join(pins)} --group {group}, then delete it"
                if pins
                else "every pin in it is in the lock: delete it"
            )
            console.warn(
                f"kept {name} (you edited it), but the {group} image now installs from "
                f"pyproject.toml's lock, not from it: {move}"
            )
            continue
        console.warn(f"kept {name}: you edited it and the new template no longer ships it")
    if result.env.added:
        console.info(f".env: added {', '.join(result.env.added)} (new in .env.example)")
    if result.env_follow.updated:
        console.info(f".env: now follows the template for {', '.join(result.env_follow.updated)}")
    for key in result.env_follow.kept:
        console.warn(f".env: kept your own {key}; the template changed its default: check it")
    if result.store_changed:
        before, after = result.answers["object_store"]
        console.warn(
            f"object store {before} -> {after}: artifacts stay in the old store's files on the "
            f"objectstore-data volume, which {after} cannot read; move them while the old store "
            "still runs: devenv backup, then devenv reset objectstore --yes, devenv up, devenv "
            "restore FILE --replace (docs/data-safety.md)"
        )
    for name, (before, after) in result.data_images.items():
        console.warn(
            f"{name}'s image changes ({before} -> {after}): back up before the next devenv up "
            "(devenv backup; devenv up refuses a Postgres of another major version and says "
            "how to move the data)"
        )
    if not result.changed:
        console.success(f"already up to date ({result.new_ref})")
        return
    console.success(f"updated {result.old_ref} -> {result.new_ref}; review with: git diff")
    for name in result.changed:
        console.out.print(name)


def urls(found: list[Service], *, as_json: bool) -> None:
    if as_json:
        console.print_json([s.as_dict() for s in found])
        return

    def title(s: Service) -> str:
        return f"{s.title} ({s.profile} profile)" if s.profile else s.title

    rows = [(title(s), s.url or "-") for s in found if s.url or not s.profile]
    rows += [(f"{title(s)} console", s.console) for s in found if s.console]
    console.print_urls(rows)


def status_table(statuses: list[ServiceStatus]) -> Any:
    return tables.results(
        [st.to_result() for st in statuses], header="service", columns=("state", "health", "ms")
    )


def watch(table: Callable[[], Any], *, every: float) -> None:
    """`status --watch`: the table made afresh every `every` seconds until Ctrl-C."""
    import time

    from rich.live import Live

    try:
        with Live(console=console.out, auto_refresh=False) as live:
            while True:
                live.update(table(), refresh=True)
                time.sleep(every)
    except KeyboardInterrupt:
        return


def status(statuses: list[ServiceStatus], *, as_json: bool) -> None:
    if as_json:
        console.print_json(report(st.to_result() for st in statuses))
        return
    console.out.print(status_table(statuses))


def up(result: UpResult, token: str | None, *, as_json: bool) -> None:
    from devenv.stack.pull import summary
    from devenv.stack.status import url_rows

    if result.env.created:
        console.info(".env created from .env.example with fresh secrets (git-ignored, mode 600)")
    elif result.env.added:
        console.info(f".env: added {', '.join(result.env.added)} from .env.example")
    if result.gpu_note:
        console.info(f"GPU: {result.gpu_reason}")
    for line in result.warnings:
        console.warn(line)
    if result.converged:
        console.info("already up as configured (same configuration and images): nothing started")
    elif made := summary(result.images):
        console.info(made)
    if as_json:
        console.print_json(
            report(
                (st.to_result() for st in result.statuses),
                seconds=round(result.seconds, 1),
                gpu=result.gpu,
                gpu_reason=result.gpu_reason,
                converged=result.converged,
                images=[plan.as_dict() for plan in result.images],
                warnings=result.warnings,
            )
        )
        return
    console.print_urls(url_rows(result.statuses, token))


def content_tags(plans: list[ImagePlan], *, as_json: bool) -> None:
    rows = [
        {
            "service": p.service,
            "image": p.image,
            "tag": p.tag,
            "context": str(p.spec.context),
            "dockerfile": str(p.spec.dockerfile),
            "args": p.spec.args,
            "target": p.spec.target,
            "platform": p.spec.platform,
        }
        for p in plans
    ]
    if as_json:
        console.print_json({"images": rows})
        return
    console.out.print(
        tables.table(
            ["service", "content tag", "image"], [(p.service, p.tag, p.image) for p in plans]
        )
    )


def gpu_check(result: GpuReport, *, as_json: bool) -> None:
    if as_json:
        console.print_json(result.as_dict())
        return
    console.out.print(tables.results(result.layers, header="layer"))
    for row in result.comparison:
        flag = "  [red]LOW[/]" if row["low"] else ""
        console.out.print(
            f"{row['metric']}: {row['measured']} vs {row['reference']} ({row['card']} "
            f"reference) = {row['percent']} %{flag}"
        )


def checks(results: list[Result], *, as_json: bool, seconds: float | None = None) -> None:
    """doctor and smoke: the results as a table, or the JSON report."""
    if as_json:
        extra = {"seconds": round(seconds, 2)} if seconds is not None else {}
        console.print_json(report(results, **extra))
        return
    console.out.print(tables.results(results, header="step" if seconds is not None else "check"))


def phase(result: Result) -> None:
    console.err.print(tables.line(result), highlight=False)


def onboard(result: OnboardResult, *, as_json: bool) -> None:
    if as_json:
        console.print_json(
            report(
                result.phases,
                path=str(result.root),
                seconds=round(result.seconds, 1),
                urls=dict(result.urls),
            )
        )
        return
    console.print_urls(result.urls)
    console.info(
        f"credentials: {result.root / '.env'} (MLflow's login MLFLOW_ADMIN_USER/PASSWORD, "
        "JUPYTER_TOKEN, S3 keys, DB passwords)"
    )
    console.info(
        "next: open JupyterLab, run notebooks/quickstart.ipynb; daily use: devenv up / "
        "status / down (docs/daily-use.md)"
    )
    breakdown = ", ".join(f"{p.name} {p.seconds or 0:.0f}s" for p in result.phases)
    console.success(f"onboarded in {result.seconds:.0f}s ({breakdown})")


def ps(containers: list[Container], *, as_json: bool) -> None:
    if as_json:
        console.print_json([c.as_dict() for c in containers])
        return
    console.out.print(tables.ps(containers))


def confirm_deletion(plans: list[VolumePlan], *, yes: bool, backup: bool = False) -> bool:
    """Say what `reset` deletes, for good; without --yes ask (a terminal) or refuse (a pipe).
    Without --backup, offer it."""
    if not plans:
        console.info("nothing to delete")
        return False
    console.info("This deletes, for good:" if not backup else "This backs up, then deletes:")
    for plan in plans:
        console.info(f"  volume {plan.volume}  (used by {', '.join(plan.services) or 'nothing'})")
    if not backup:
        console.info("(devenv reset --backup takes a backup first; devenv restore brings it back)")
    if yes:
        return True
    import sys

    if not sys.stdin.isatty():
        raise UsageError("refusing to delete data without confirmation", hint="re-run with --yes")
    import typer

    if typer.confirm("Delete these volumes?", default=False, err=True):
        return True
    console.info("nothing deleted")
    return False


def canary(found: CanaryStatus, *, as_json: bool) -> None:
    if as_json:
        console.print_json(report(found.results(), **found.extras()))
        return
    console.out.print(tables.results(found.results(), header="track", columns=("weight",)))
    spec = found.spec
    console.info(
        f"gateway {found.url}: pin with {spec.pin_header}: champion|challenger, "
        f"stick users with {spec.sticky_header}"
    )


def platform(found: Platform, *, as_json: bool) -> None:
    if as_json:
        console.print_json(found.as_dict())
        return
    console.out.print(found.line(), highlight=False)


def raw(text: str) -> None:
    """Command output passed through as it is (exec, logs, env)."""
    console.out.file.write(text)
    console.out.file.flush()


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def backup(result: BackupResult, *, as_json: bool) -> None:
    if as_json:
        console.print_json(result.as_dict())
        return
    counts = result.counts
    console.info(
        f"{counts.get('runs', 0)} runs, {counts.get('registered_models', 0)} models, "
        f"{counts.get('aliases', 0)} aliases; {result.objects} objects "
        f"({_size(result.object_bytes)}); archive {_size(result.size)} in {result.seconds:.1f}s"
    )
    if result.secrets:
        console.warn(f"{result.path} holds .env's secrets: it was written 0600, keep it private")
    console.out.print(str(result.path))


def restored(result: RestoreResult, *, as_json: bool) -> None:
    if as_json:
        console.print_json(result.as_dict())
        return
    if result.snapshot:
        console.info(f"the data it replaced is backed up in {result.snapshot}")
    counts = result.counts
    console.info(
        f"verified: {counts.get('runs', 0)} runs, {counts.get('registered_models', 0)} models, "
        f"{counts.get('aliases', 0)} aliases; {result.objects} objects "
        f"({_size(result.object_bytes)}), checksums as in the archive"
        + (f" (made with {result.from_store})" if result.from_store else "")
    )


def locked(result: Locked, done: str, *, as_json: bool) -> None:
    """devenv add / devenv lock: which image lock files changed, and what to do next."""
    if as_json:
        console.print_json({"done": done, "exported": result.exported})
        return
    console.success(done)
    for path in result.exported:
        console.info(f"  {path} changed")
    if result.exported:
        console.info("next: devenv up (rebuilds only the images whose lock changed)")
