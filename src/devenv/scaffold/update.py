"""`devenv update`: Copier's three-way update with guard rails: a clean tree first, conflicts
reported, edited files the template dropped kept, .env in step with .env.example."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.core import envfile
from devenv.core.errors import DirtyTreeError, TemplateError, UpdateConflictError, UsageError
from devenv.core.paths import cache_dir
from devenv.core.project import Project, conflicted_files
from devenv.scaffold import deps
from devenv.scaffold import template as tpl
from devenv.scaffold.template import (
    check_template,
    copier_failures,
    copier_message,
    git,
    inside_git_repo,
)


@dataclass
class UpdateResult:
    root: Path
    old_ref: str | None
    new_ref: str | None
    changed: list[str]
    # Files you had edited that the new template no longer ships: restored, never deleted.
    kept: list[str] = field(default_factory=list)
    env: envfile.EnvSync = field(default_factory=envfile.EnvSync)
    env_follow: envfile.EnvFollow = field(default_factory=envfile.EnvFollow)
    # Answers this update changed: name -> (before, after).
    answers: dict[str, tuple[object, object]] = field(default_factory=dict)
    # Images of the services that hold data (compose.yaml's defaults): name -> (before, after).
    data_images: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Kept old requirements.txt files the images no longer read: path -> (group, pins the
    # lock lacks), for the `devenv add` that moves them.
    migrate: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    @property
    def store_changed(self) -> bool:
        """A new object store starts on the old one's volume, whose files it cannot read."""
        return "object_store" in self.answers


DATA_SERVICES = ("postgres", "objectstore")


def data_images(root: Path) -> dict[str, str]:
    """The image line compose.yaml gives each service that holds data (as written, with its
    ${VAR:-default})."""
    import yaml

    try:
        spec = yaml.safe_load((root / "compose.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    found = (spec.get("services") or {}) if isinstance(spec, dict) else {}
    return {n: str((found.get(n) or {}).get("image") or "") for n in DATA_SERVICES if n in found}


def _changed_files(root: Path) -> list[str]:
    out = git(root, "status", "--porcelain", "--untracked-files=all").stdout
    return sorted(line[3:].strip() for line in out.splitlines() if line.strip())


def _deleted_files(root: Path) -> list[str]:
    out = git(root, "status", "--porcelain").stdout
    return sorted(line[3:].strip() for line in out.splitlines() if line[:2].strip() == "D")


def _is_cache(source: str) -> bool:
    try:
        return Path(source).expanduser().resolve() == (cache_dir() / "template").resolve()
    except OSError:
        return False


def update_source(
    answers: dict[str, object], template: str | None, vcs_ref: str | None
) -> tuple[str, str | None]:
    """Where the new template comes from: --template, else the answers file's `_src_path`
    (a git URL or clone for a teammate or a `copier copy` project), else this CLI's bundle."""
    old_ref = str(answers.get("_commit") or "")
    if template is not None:
        check_template(template)
        return template, vcs_ref
    source = str(answers.get("_src_path") or "")
    if source and not _is_cache(source):
        check_template(source)
        return source, vcs_ref  # Copier takes the newest release tag when no ref is given
    cache, bundled_ref = tpl.template_snapshot()
    repo = Path(cache).expanduser()
    if git(repo, "rev-parse", "--verify", "-q", f"{old_ref}^{{commit}}", check=False).code:
        raise TemplateError(
            f"template version {old_ref} is not in this machine's cache ({repo}): the project "
            "was made on another machine from a CLI installed without its git URL",
            hint="pass --template <git URL of ml-devenv> (the CLI's own repository)",
        )
    return cache, vcs_ref or bundled_ref


def _restore_edited_removals(
    root: Path, source: str, old_ref: str, data: dict[str, Any]
) -> list[str]:
    """Copier deletes every file the new template dropped, edited or not. Put back the ones
    whose content differs from what the old template rendered: they hold your work."""
    deleted = _deleted_files(root)
    if not deleted:
        return []
    import tempfile

    import copier

    with tempfile.TemporaryDirectory(prefix="devenv-old-") as tmp:
        old = Path(tmp) / "render"
        try:
            copier.run_copy(
                source, old, data=data, vcs_ref=old_ref, defaults=True, quiet=True, unsafe=False
            )
        except copier_failures():
            pass  # the old version cannot be rendered: keep every deleted file, to be safe
        kept = []
        for name in deleted:
            committed = git(root, "show", f"HEAD:{name}").stdout
            rendered = old / name
            if not rendered.is_file() or rendered.read_text(encoding="utf-8") != committed:
                git(root, "checkout", "HEAD", "--", name)
                kept.append(name)
    return kept


def update_project(
    project: Project,
    data: dict[str, Any],
    *,
    template: str | None = None,
    vcs_ref: str | None = None,
) -> UpdateResult:
    """Copier update with guard rails: clean tree first, conflicts reported, nothing lost."""
    import warnings

    # run_update() cannot take a new template source (--template); Worker can. Copier marks it
    # internal, so its deprecation warning is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from copier import Worker

    root = project.root
    if not inside_git_repo(root):
        raise UsageError(
            f"{root} is not a git repository; updates need git to merge your edits",
            hint="git init && git add -A && git commit -m 'snapshot', then run devenv update",
        )
    if dirty := _changed_files(root):
        raise DirtyTreeError(
            f"the project has uncommitted changes ({len(dirty)} file(s), e.g. {dirty[0]})",
            hint="commit or stash them first (git add -A && git commit -m wip), then update",
        )
    answers = project.answers()
    old_ref = answers.get("_commit")
    if not old_ref:
        raise TemplateError(
            "this project records no template version, so an update cannot merge safely",
            hint="it was made without git; pass --template <git URL of ml-devenv> --vcs-ref <tag>",
        )
    source, vcs_ref = update_source(answers, template, vcs_ref)
    example = root / ".env.example"
    example_before = example.read_text(encoding="utf-8") if example.is_file() else ""
    env_missing = not (root / ".env").is_file()
    images_before = data_images(root)
    try:
        with Worker(
            src_path=source,
            dst_path=root,
            data=data,
            vcs_ref=vcs_ref,
            defaults=True,
            overwrite=True,
            skip_answered=True,
            conflict="inline",
            quiet=True,
            unsafe=False,
        ) as worker:
            worker.run_update()
        old_answers = {k: v for k, v in answers.items() if not str(k).startswith("_")}
        kept = _restore_edited_removals(root, source, str(old_ref), old_answers)
    except copier_failures() as error:
        if env_missing:
            (root / ".env").unlink(missing_ok=True)  # see below
        raise TemplateError(
            f"{copier_message(error)} (template {source})",
            hint="the project was left as it was (git status shows it); check --template",
        ) from None
    if env_missing:
        # Copier re-renders a missing .env with new secrets. It stays missing: `devenv up`
        # decides, knowing whether volumes made with the old secrets exist.
        (root / ".env").unlink(missing_ok=True)
    changed = _changed_files(root)
    new_ref = project.answers().get("_commit")
    if conflicts := conflicted_files(root, changed):
        raise UpdateConflictError(
            f"update applied with conflicts in: {', '.join(conflicts)}",
            hint="your edits are kept beside the template's between <<<<<<< and >>>>>>> markers: "
            "resolve them, then git add -A && git commit",
        )
    # .env is git-ignored and Copier never touches it: bring it in step with .env.example.
    example_after = example.read_text(encoding="utf-8") if example.is_file() else ""
    followed = envfile.follow(root / ".env", example_before, example_after)
    synced = envfile.EnvSync() if env_missing else envfile.ensure(root)
    after = project.answers()
    differ = {
        k: (answers.get(k), after.get(k))
        for k in sorted(set(answers) | set(after))
        if not str(k).startswith("_") and answers.get(k) != after.get(k)
    }
    images_after = data_images(root)
    moved = {
        name: (image, images_after[name])
        for name, image in images_before.items()
        if images_after.get(name, image) != image
    }
    migrate = {
        name: (deps.REPLACED[name], deps.unlocked_pins(root, name))
        for name in kept
        if name in deps.REPLACED and (root / "uv.lock").is_file()
    }
    return UpdateResult(
        root,
        str(old_ref),
        str(new_ref) if new_ref else None,
        changed,
        kept,
        synced,
        followed,
        differ,
        moved,
        migrate,
    )
