"""Model canaries: one spec (the challenger's share, a pin header, a sticky header), the
weights it gives, and the running gateway's weights and stats. devenv.release.canary.envoy
renders the spec as Envoy's configuration and as mesh objects.

Envoy is the data plane Istio uses: a VirtualService's weights become exactly the weighted
clusters below, so a canary rehearsed here behaves as it will in a mesh. Weights live in
Envoy's runtime (`canary.champion` / `canary.challenger`), so a shift is a runtime change with
no reload and no dropped connection; the header hash keeps each user on one track.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from devenv.clients.gateway import Gateway as AdminApi
from devenv.core.errors import UsageError, shorten

TRACKS = ("champion", "challenger")
RUNTIME_PREFIX = "canary"
TRACK_LABEL = "devenv.io/track"  # the pod label that names a track on Kubernetes
HEADER = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
# The settings in .env, with their defaults (also in the template's .env.example).
ENV_KEYS = {
    "percent": ("CANARY_PERCENT", "0"),
    "pin_header": ("CANARY_PIN_HEADER", "x-model-track"),
    "sticky_header": ("CANARY_STICKY_HEADER", "x-user-id"),
}


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int


@dataclass(frozen=True)
class CanarySpec:
    """What share of traffic the challenger gets, and how a client steers: `pin_header:
    champion|challenger` pins a request to a track; requests with the same `sticky_header`
    value always land on the same track while the weights stay put."""

    percent: int = 0
    pin_header: str = "x-model-track"
    sticky_header: str = "x-user-id"

    def __post_init__(self) -> None:
        check_percent(self.percent)
        for name in (self.pin_header, self.sticky_header):
            if not HEADER.match(name):
                raise UsageError(
                    f"{shorten(name)!r} is not a header name devenv accepts",
                    hint="lower-case letters, digits and dashes, e.g. x-user-id",
                )
        if self.pin_header == self.sticky_header:
            raise UsageError(
                "the pin header and the sticky header must differ",
                hint="set CANARY_PIN_HEADER and CANARY_STICKY_HEADER in .env to two names",
            )

    @property
    def weights(self) -> dict[str, int]:
        return {"champion": 100 - self.percent, "challenger": self.percent}

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "weights": self.weights}

    @classmethod
    def from_env(cls, env: dict[str, str]) -> CanarySpec:
        values = {field: env.get(key) or default for field, (key, default) in ENV_KEYS.items()}
        return cls(
            percent=parse_percent(values["percent"], source="CANARY_PERCENT in .env"),
            pin_header=values["pin_header"].lower(),
            sticky_header=values["sticky_header"].lower(),
        )


def check_percent(value: int) -> None:
    if not 0 <= value <= 100:
        raise UsageError(
            f"the challenger's share must be 0-100 %, got {value}",
            hint="e.g. devenv canary set 10 (10 % to the challenger)",
        )


def parse_percent(text: str, *, source: str = "PERCENT") -> int:
    cleaned = str(text).strip().removesuffix("%")
    if not re.fullmatch(r"\d{1,3}", cleaned):
        raise UsageError(
            f"{source} must be a whole percent 0-100, got {shorten(text)!r}",
            hint="e.g. devenv canary set 10 (10 % to the challenger)",
        )
    value = int(cleaned)
    check_percent(value)
    return value


def runtime_weights(percent: int) -> dict[str, str]:
    """The runtime keys `set` changes live (Envoy's POST /runtime_modify)."""
    check_percent(percent)
    return {
        f"{RUNTIME_PREFIX}.champion": str(100 - percent),
        f"{RUNTIME_PREFIX}.challenger": str(percent),
    }


@dataclass(frozen=True)
class TrackStats:
    track: str
    requests: int
    errors: int  # 5xx answers and requests that got no answer

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": round(self.error_rate, 4)}


def track_stats(stats: dict[str, Any]) -> list[TrackStats]:
    """Per-track request and error counts from Envoy's GET /stats?format=json."""
    values = {s["name"]: s.get("value", 0) for s in stats.get("stats", []) if "name" in s}
    found = []
    for track in TRACKS:
        prefix = f"cluster.{track}."
        total = int(values.get(prefix + "upstream_rq_total", 0))
        errors = int(values.get(prefix + "upstream_rq_5xx", 0)) + int(
            values.get(prefix + "upstream_cx_connect_fail", 0)
        )
        found.append(TrackStats(track, total, errors))
    return found


class Gateway(AdminApi):
    """The running gateway's weights and per-track stats, through its Envoy admin API."""

    def set_percent(self, percent: int) -> None:
        """Shift the weights live: a runtime change, no reload, no dropped request."""
        self.modify_runtime(runtime_weights(percent))

    def percent(self) -> int | None:
        """The challenger's live share, from the runtime; None when the gateway has none."""
        value = self.runtime_value(f"{RUNTIME_PREFIX}.challenger")
        return int(value) if value is not None and value.isdigit() else None

    def track_stats(self) -> list[TrackStats]:
        return track_stats(self.stats(r"^cluster\.(champion|challenger)\.upstream_"))
