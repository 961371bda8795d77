"""`devenv canary`: a champion/challenger canary on the local stack, through the Envoy gateway.

start renders the gateway's configuration from the spec in .env and brings up the `canary`
profile; set shifts the weights live and keeps them in .env; status reads the gateway's
runtime and stats and the registry's aliases; promote moves the champion alias to the
challenger's version; rollback gives the challenger nothing. Every check that can refuse runs
before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.clients.mlflow import MlflowClient, login
from devenv.core import envfile, http, services
from devenv.core.errors import DevenvError, UsageError
from devenv.core.result import Result
from devenv.docker.engine import Engine
from devenv.docker.progress import Progress
from devenv.release.canary import envoy
from devenv.release.canary import spec as canary
from devenv.stack import start as starting

PROFILE = "canary"
GATEWAY = "gateway"
CHALLENGER = "serving-challenger"
CONFIG_PATH = Path(".devenv") / "gateway" / "envoy.yaml"
TIMEOUT = 30.0


def _service(engine: Engine, name: str) -> services.Service:
    found = next((s for s in services.from_config(engine.config) if s.name == name), None)
    if found is None:
        raise UsageError(
            f"this project has no {name} service, so no canary",
            hint="the canary needs the serving API: devenv update -d include_serving=true",
        )
    return found


def gateway(engine: Engine) -> canary.Gateway:
    admin = _service(engine, GATEWAY).admin
    if not admin:
        raise UsageError(
            "the gateway service has no devenv.admin label in compose.yaml",
            hint="devenv update re-applies the template's labels",
        )
    return canary.Gateway(services.base(admin))


@dataclass(frozen=True)
class ModelRegistry:
    """The served model in MLflow's registry: which version each alias names, and moving one."""

    client: MlflowClient
    model: str

    def version(self, alias: str) -> str | None:
        return self.client.alias_version(self.model, alias)

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_alias(self.model, alias, version)


def model_registry(engine: Engine) -> ModelRegistry:
    mlflow = services.by_probe(services.from_config(engine.config), "mlflow")
    if mlflow is None:
        raise UsageError("no MLflow service in this project", hint="devenv urls lists them")
    model = engine.config["services"]["serving"]["environment"]["MODEL_NAME"]
    client = MlflowClient(services.base(mlflow.url or ""), auth=login(engine.env))
    return ModelRegistry(client, str(model))


def aliases(engine: Engine) -> dict[str, str]:
    env = engine.config["services"]
    return {
        "champion": str(env["serving"]["environment"]["MODEL_ALIAS"]),
        "challenger": str(env[CHALLENGER]["environment"]["MODEL_ALIAS"]),
    }


@dataclass
class CanaryStatus:
    spec: canary.CanarySpec
    live_percent: int | None
    tracks: list[canary.TrackStats]
    versions: dict[str, str | None]
    aliases: dict[str, str]
    url: str

    def results(self) -> list[Result]:
        weights = canary.CanarySpec(self.live_percent or 0).weights
        found = []
        for stats in self.tracks:
            version = self.versions.get(stats.track)
            found.append(
                Result(
                    stats.track,
                    "fail" if stats.errors else "ok",
                    f"{weights[stats.track]} % of traffic, models:/…@{self.aliases[stats.track]}"
                    f" = version {version or '-'}; {stats.requests} requests, "
                    f"{stats.error_rate:.1%} errors",
                    f"devenv logs {'serving' if stats.track == 'champion' else CHALLENGER}"
                    if stats.errors
                    else None,
                    data={
                        "weight": weights[stats.track],
                        "alias": self.aliases[stats.track],
                        "version": version,
                        **stats.as_dict(),
                    },
                )
            )
        return found

    def extras(self) -> dict[str, Any]:
        return {
            "percent": self.live_percent,
            "spec": self.spec.as_dict(),
            "url": self.url,
        }


def versions(engine: Engine) -> dict[str, str | None]:
    """The version each track's alias names in MLflow (None: no such alias yet)."""
    reg = model_registry(engine)
    return {track: reg.version(alias) for track, alias in aliases(engine).items()}


def status(engine: Engine, known: dict[str, str | None] | None = None) -> CanaryStatus:
    """`known`: the tracks' versions when the caller has just read them (nothing moved since)."""
    gw = gateway(engine)
    live = gw.percent()  # raises "not answering" first when the gateway is down
    return CanaryStatus(
        canary.CanarySpec.from_env(engine.env),
        live,
        gw.track_stats(),
        known if known is not None else versions(engine),
        aliases(engine),
        services.base(_service(engine, GATEWAY).url or ""),
    )


def render_config(engine: Engine, spec: canary.CanarySpec) -> Path:
    """The gateway's Envoy configuration, from the spec: written where compose mounts it."""
    assert engine.project is not None
    config = envoy.envoy_config(
        spec,
        canary.Upstream("serving", 8000),
        canary.Upstream(CHALLENGER, 8000),
        listen=canary.Upstream("0.0.0.0", 8080),  # noqa: S104 - inside the container
        admin=canary.Upstream("0.0.0.0", 9901),  # noqa: S104 - published on 127.0.0.1 only
    )
    target = engine.project.root / CONFIG_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(envoy.dump(config), encoding="utf-8")
    temporary.replace(target)
    return target


def start(engine: Engine, *, on_progress: Callable[[Progress], None]) -> CanaryStatus:
    spec = canary.CanarySpec.from_env(engine.env)  # a bad spec in .env stops here
    _service(engine, GATEWAY)
    reg, names = model_registry(engine), aliases(engine)
    engine.require()
    package = engine.project.answers().get("package_name") if engine.project else None
    for track in canary.TRACKS:
        if reg.version(names[track]) is None:
            train = f"devenv exec jupyter env MODEL_ALIAS={names[track]} python -m {package}.train"
            raise UsageError(
                f"no version of {reg.model} has the alias {names[track]!r} ({track})",
                hint=f"train one: {train} (or add the alias to a version in MLflow's UI)",
            )
    render_config(engine, spec)
    starting.start_service(engine, GATEWAY, timeout=600, on_progress=on_progress)
    return status(engine)


def set_percent(engine: Engine, text: str) -> CanaryStatus:
    """Every check first (the percent, the gateway, MLflow, .env readable): a failure changes
    nothing. Then the live weights, then .env and the rendered configuration."""
    percent = canary.parse_percent(text)
    gw = gateway(engine)
    before = gw.percent()  # the gateway answers
    known = versions(engine)  # MLflow answers (the status after the shift shows them)
    canary.CanarySpec.from_env(engine.env)  # .env's canary settings are sound
    gw.set_percent(percent)
    try:
        _persist(engine, percent)
    except (DevenvError, OSError):
        gw.set_percent(before or 0)  # .env could not follow: the live weights go back too
        raise
    return status(engine, known)


def _persist(engine: Engine, percent: int) -> None:
    """The weights survive a restart: in .env (the spec) and in the rendered configuration."""
    assert engine.project is not None
    envfile.set_values(engine.project.root / ".env", {"CANARY_PERCENT": str(percent)})
    engine.forget()
    render_config(engine, canary.CanarySpec.from_env(engine.env))


@dataclass(frozen=True)
class Promotion:
    """What `canary promote` did, for its message: MLflow keeps no history of alias moves."""

    version: str
    previous: str | None
    by: str  # the MLflow user that moved the alias


def promote(engine: Engine) -> tuple[Promotion, CanaryStatus]:
    """The challenger's version becomes the champion; the challenger gets no traffic."""
    gw = gateway(engine)
    gw.percent()  # the gateway answers, or nothing changes
    canary.CanarySpec.from_env(engine.env)
    reg, names = model_registry(engine), aliases(engine)
    previous = reg.version(names["champion"])  # MLflow answers reads before the alias moves
    version = reg.version(names["challenger"])
    if version is None:
        raise UsageError(
            f"no version of {reg.model} has the alias {names['challenger']!r}",
            hint="nothing to promote: set the challenger alias in MLflow first",
        )
    reg.set_alias(names["champion"], version)
    try:
        gw.set_percent(0)
        _persist(engine, 0)
    except (DevenvError, OSError):
        if previous is not None:  # the split could not follow: the champion goes back too
            reg.set_alias(names["champion"], previous)
        raise
    _reload(engine, "champion")
    signed_in = login(engine.env)
    done = Promotion(version, previous, signed_in[0] if signed_in else "anonymous (no login)")
    return done, status(engine)


def _reload(engine: Engine, track: str) -> None:
    """Make the track's serving container load its alias now (it would within 30 s anyway)."""
    spec = canary.CanarySpec.from_env(engine.env)
    url = services.base(_service(engine, GATEWAY).url or "")
    http.request(
        "POST",
        f"{url}/admin/reload",
        service=f"the {track}",
        doing="reload its model",
        timeout=TIMEOUT * 4,
        hint=f"devenv logs {'serving' if track == 'champion' else CHALLENGER}",
        headers={spec.pin_header: track},
    )


def rollback(engine: Engine) -> CanaryStatus:
    return set_percent(engine, "0")
