"""Model canaries: one spec (the challenger's share, a pin header, a sticky header) and the
Envoy gateway configuration rendered from it.

Envoy is the data plane Istio uses: a VirtualService's weights become exactly the weighted
clusters below, so a canary rehearsed here behaves as it will in a mesh. Weights live in
Envoy's runtime (`canary.champion` / `canary.challenger`), so a shift is a runtime change with
no reload and no dropped connection; the header hash keeps each user on one track.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from devenv.core.errors import UsageError

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
                    f"{name!r} is not a header name devenv accepts",
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
            f"{source} must be a whole percent 0-100, got {text!r}",
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


def _cluster(name: str, upstream: Upstream) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "2s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": upstream.host,
                                        "port_value": upstream.port,
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }


def _track_header(track: str) -> list[dict[str, Any]]:
    """Every response names the track that answered (the serving app adds its version)."""
    return [
        {
            "header": {"key": "x-canary-track", "value": track},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
    ]


def envoy_config(
    spec: CanarySpec,
    champion: Upstream,
    challenger: Upstream,
    *,
    listen: Upstream,
    admin: Upstream,
) -> dict[str, Any]:
    """The gateway's whole configuration (Envoy v3 API) as a dict; YAML-dump it for Envoy."""
    pinned = [
        {
            "match": {
                "prefix": "/",
                "headers": [
                    {"name": spec.pin_header, "string_match": {"exact": track}},
                ],
            },
            "route": {"cluster": track, "timeout": "60s"},
            "response_headers_to_add": _track_header(track),
        }
        for track in TRACKS
    ]
    split = {
        "match": {"prefix": "/"},
        "route": {
            "timeout": "60s",
            # A hash of the sticky header picks the track: one user, one track.
            "hash_policy": [{"header": {"header_name": spec.sticky_header}}],
            "weighted_clusters": {
                "runtime_key_prefix": RUNTIME_PREFIX,
                "use_hash_policy": True,
                "clusters": [
                    {
                        "name": track,
                        "weight": spec.weights[track],
                        "response_headers_to_add": _track_header(track),
                    }
                    for track in TRACKS
                ],
            },
        },
    }
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "gateway",
        "route_config": {
            "name": "canary",
            "virtual_hosts": [{"name": "models", "domains": ["*"], "routes": [*pinned, split]}],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    return {
        "admin": {
            "address": {
                "socket_address": {"address": admin.host, "port_value": admin.port},
            }
        },
        # Weights live in the runtime: the static layer holds the spec's, the admin layer what
        # `devenv canary set` changes live (POST /runtime_modify), no reload.
        "layered_runtime": {
            "layers": [
                {
                    "name": "spec",
                    "static_layer": {
                        key: int(value) for key, value in runtime_weights(spec.percent).items()
                    },
                },
                {"name": "live", "admin_layer": {}},
            ]
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "gateway",
                    "address": {
                        "socket_address": {"address": listen.host, "port_value": listen.port}
                    },
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [_cluster("champion", champion), _cluster("challenger", challenger)],
        },
    }


def mesh_objects(
    spec: CanarySpec, *, service: str = "serving", port: int = 8000, gateway: str = "gateway"
) -> list[dict[str, Any]]:
    """The same split for a cluster: a Gateway API HTTPRoute (Services `<service>-<track>`) and
    an Istio VirtualService + DestinationRule (subsets by the `devenv.io/track` pod label).

    Pinning is a header match on either side. Stickiness across tracks has no field in
    either API (Gateway API's session persistence is experimental); Istio's consistent hash
    keeps a user on one pod within a track.
    """

    def route_rule(track: str) -> dict[str, Any]:
        return {
            "matches": [{"headers": [{"name": spec.pin_header, "value": track}]}],
            "backendRefs": [{"name": f"{service}-{track}", "port": port}],
        }

    http_route = _object(
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        service,
        {
            "parentRefs": [{"name": gateway}],
            "rules": [
                *(route_rule(track) for track in TRACKS),
                {
                    "backendRefs": [
                        {"name": f"{service}-{track}", "port": port, "weight": spec.weights[track]}
                        for track in TRACKS
                    ]
                },
            ],
        },
    )
    virtual_service = _object(
        "networking.istio.io/v1",
        "VirtualService",
        service,
        {
            "hosts": [service],
            "http": [
                *(
                    {
                        "name": f"pinned-{track}",
                        "match": [{"headers": {spec.pin_header: {"exact": track}}}],
                        "route": [{"destination": {"host": service, "subset": track}}],
                    }
                    for track in TRACKS
                ),
                {
                    "name": "split",
                    "route": [
                        {
                            "destination": {"host": service, "subset": track},
                            "weight": spec.weights[track],
                        }
                        for track in TRACKS
                    ],
                },
            ],
        },
    )
    destination_rule = _object(
        "networking.istio.io/v1",
        "DestinationRule",
        service,
        {
            "host": service,
            "trafficPolicy": {
                "loadBalancer": {"consistentHash": {"httpHeaderName": spec.sticky_header}}
            },
            "subsets": [{"name": track, "labels": {TRACK_LABEL: track}} for track in TRACKS],
        },
    )
    return [http_route, virtual_service, destination_rule]


def _object(api_version: str, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}


def render(config: dict[str, Any]) -> str:
    import yaml

    return "# Rendered by devenv from the canary spec in .env: edit that, not this file.\n" + (
        yaml.safe_dump(config, sort_keys=False)
    )


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


class Gateway:
    """The running gateway, through Envoy's admin API (loopback only)."""

    def __init__(self, admin_url: str, *, timeout: float = 5.0) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, **params: str) -> Any:
        import httpx

        from devenv.core.errors import StackUnhealthyError

        try:
            response = httpx.request(
                method, self.admin_url + path, params=params, timeout=self.timeout
            )
        except httpx.HTTPError as error:
            raise StackUnhealthyError(
                f"the canary gateway is not answering at {self.admin_url} ({type(error).__name__})",
                hint="start it with: devenv canary start",
            ) from None
        if response.status_code != 200:
            raise StackUnhealthyError(
                f"the gateway refused {method} {path}: HTTP {response.status_code} "
                f"{response.text.strip()[:200]}",
                hint="devenv logs gateway shows why",
            )
        return response

    def ready(self) -> bool:
        try:
            return str(self._request("GET", "/ready").text).strip() == "LIVE"
        except Exception:  # any failure means not ready yet
            return False

    def set_percent(self, percent: int) -> None:
        """Shift the weights live: a runtime change, no reload, no dropped request."""
        self._request("POST", "/runtime_modify", **runtime_weights(percent))

    def percent(self) -> int | None:
        """The challenger's live share, from the runtime; None when the gateway has none."""
        entries = self._request("GET", "/runtime").json().get("entries", {})
        value = entries.get(f"{RUNTIME_PREFIX}.challenger", {}).get("final_value")
        return int(value) if value not in (None, "") else None

    def stats(self) -> list[TrackStats]:
        data = self._request(
            "GET", "/stats", format="json", filter=r"^cluster\.(champion|challenger)\.upstream_"
        ).json()
        return track_stats(data)
