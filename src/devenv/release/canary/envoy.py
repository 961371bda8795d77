"""The canary spec rendered: the Envoy gateway's configuration for compose, and the same split
as mesh objects for a cluster (Gateway API HTTPRoute, Istio VirtualService + DestinationRule).

Envoy is the data plane Istio uses: a VirtualService's weights become exactly the weighted
clusters below, so a canary rehearsed here behaves as it will in a mesh.
"""

from __future__ import annotations

from typing import Any

from devenv.release.canary.spec import (
    RUNTIME_PREFIX,
    TRACK_LABEL,
    TRACKS,
    CanarySpec,
    Upstream,
    runtime_weights,
)


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


def dump(config: dict[str, Any]) -> str:
    import yaml

    return "# Rendered by devenv from the canary spec in .env: edit that, not this file.\n" + (
        yaml.safe_dump(config, sort_keys=False)
    )
