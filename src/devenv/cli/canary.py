"""devenv canary: champion/challenger through the Envoy gateway (docs/canary.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from devenv.cli.base import (
    JsonOption,
    engine,
    finish,
    group,
    interruptible,
    live,
    live_table,
    views,
)

if TYPE_CHECKING:
    from devenv.docker.engine import Engine

app = group(
    "canary",
    "Champion/challenger canary through an Envoy gateway: split traffic, shift it live, "
    "promote or roll back (docs/canary.md).\n\nExamples:\n\n  devenv canary start\n\n"
    "  devenv canary set 10\n\n  devenv canary status --json",
)


def _engine() -> Engine:
    """An Engine that sees the canary profile's services too."""
    from devenv.release.canary.flow import PROFILE

    return engine(profiles=[PROFILE])


def start(*, json_output: JsonOption = False) -> None:
    """Start the gateway and the challenger; traffic splits as CANARY_PERCENT in .env says.

    Needs a model version with the champion alias and one with the challenger alias
    (CANARY_ALIAS, default challenger). Requests to the gateway's URL go to either; a header
    pins a track (x-model-track: challenger) and a user id keeps one user on one track.

    Examples:

      devenv canary start

      devenv canary start --json
    """
    from devenv.release.canary import flow

    renderer = live_table()
    with interruptible("the gateway may be starting: devenv canary status shows it"), renderer:
        found = flow.start(_engine(), on_progress=live(renderer))
    views().canary(found, as_json=json_output)
    finish(success=f"canary gateway up at {found.url}")


def set_(
    percent: Annotated[
        str, typer.Argument(metavar="PERCENT", help="The challenger's share, 0-100.")
    ],
    *,
    json_output: JsonOption = False,
) -> None:
    """Shift traffic live (no reload, no dropped request) and keep the share in .env.

    Examples:

      devenv canary set 10

      devenv canary set 100 --json
    """
    from devenv.release.canary import flow

    found = flow.set_percent(_engine(), percent)
    views().canary(found, as_json=json_output)
    finish(success=f"challenger now gets {found.live_percent} % of traffic")


def status(*, json_output: JsonOption = False) -> None:
    """Weights, versions, and requests and error rates per track (Envoy's own stats).

    Examples:

      devenv canary status

      devenv canary status --json | jq '.results[] | {name, data}'
    """
    from devenv.release.canary import flow

    views().canary(flow.status(_engine()), as_json=json_output)


def promote(*, json_output: JsonOption = False) -> None:
    """The challenger's version becomes the champion (MLflow alias); the challenger gets 0 %.

    Examples:

      devenv canary promote
    """
    from devenv.release.canary import flow

    done, found = flow.promote(_engine())
    views().canary(found, as_json=json_output)
    was = f"was version {done.previous}" if done.previous else "there was none"
    finish(
        success=f"version {done.version} is the champion now ({was}; alias moved by "
        f"{done.by}); the challenger gets no traffic"
    )


def rollback(*, json_output: JsonOption = False) -> None:
    """Send all traffic back to the champion (the challenger keeps running, at 0 %).

    Examples:

      devenv canary rollback
    """
    from devenv.release.canary import flow

    views().canary(flow.rollback(_engine()), as_json=json_output)
    finish(success="all traffic on the champion")
