"""The canary spec: what it accepts, what it refuses (one line, a hint), what it renders."""

from __future__ import annotations

import pytest

from devenv.core.errors import UsageError
from devenv.release.canary import envoy
from devenv.release.canary import spec as canary


@pytest.mark.parametrize("text", ["-1", "101", "ten", "1.5", " ", "1e2", "50%%"])
def test_bad_percent_is_refused(text: str) -> None:
    with pytest.raises(UsageError) as info:
        canary.parse_percent(text)
    assert "0-100" in info.value.message and info.value.hint


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("10", 10), ("10%", 10), (" 100 ", 100)])
def test_percent(text: str, value: int) -> None:
    assert canary.parse_percent(text) == value


def test_spec_from_env_with_defaults_and_checks() -> None:
    spec = canary.CanarySpec.from_env({"CANARY_PERCENT": "25"})
    assert (spec.percent, spec.pin_header, spec.sticky_header) == (25, "x-model-track", "x-user-id")
    assert spec.weights == {"champion": 75, "challenger": 25}
    with pytest.raises(UsageError, match="CANARY_PERCENT"):
        canary.CanarySpec.from_env({"CANARY_PERCENT": "lots"})
    with pytest.raises(UsageError, match="must differ"):
        canary.CanarySpec.from_env({"CANARY_STICKY_HEADER": "x-model-track"})
    with pytest.raises(UsageError, match="header name"):
        canary.CanarySpec(5, pin_header="X Track")


def test_weights_live_in_the_runtime_and_the_hash_picks_the_track() -> None:
    config = envoy.envoy_config(
        canary.CanarySpec(10, sticky_header="x-session"),
        canary.Upstream("serving", 8000),
        canary.Upstream("serving-challenger", 8000),
        listen=canary.Upstream("0.0.0.0", 8080),
        admin=canary.Upstream("0.0.0.0", 9901),
    )
    layers = config["layered_runtime"]["layers"]
    assert layers[0]["static_layer"] == {"canary.champion": 90, "canary.challenger": 10}
    assert "admin_layer" in layers[1], "runtime_modify needs an admin layer"
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    pinned, split = routes[:2], routes[2]
    assert [r["route"]["cluster"] for r in pinned] == ["champion", "challenger"]
    weighted = split["route"]["weighted_clusters"]
    assert weighted["runtime_key_prefix"] == "canary" and weighted["use_hash_policy"] is True
    assert split["route"]["hash_policy"] == [{"header": {"header_name": "x-session"}}]
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    address = clusters["challenger"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert address["endpoint"]["address"]["socket_address"]["address"] == "serving-challenger"


def test_track_stats_from_envoy_json() -> None:
    stats = {
        "stats": [
            {"name": "cluster.champion.upstream_rq_total", "value": 90},
            {"name": "cluster.champion.upstream_rq_5xx", "value": 0},
            {"name": "cluster.challenger.upstream_rq_total", "value": 10},
            {"name": "cluster.challenger.upstream_rq_5xx", "value": 2},
            {"name": "cluster.challenger.upstream_cx_connect_fail", "value": 1},
        ]
    }
    found = {s.track: s for s in canary.track_stats(stats)}
    assert (found["champion"].requests, found["champion"].errors) == (90, 0)
    assert (found["challenger"].errors, found["challenger"].error_rate) == (3, 0.3)


def test_mesh_objects_carry_the_same_split_pins_and_sticky_header() -> None:
    spec = canary.CanarySpec(percent=30, pin_header="x-track", sticky_header="x-uid")
    route, virtual_service, destination_rule = envoy.mesh_objects(spec)
    *pins, split = route["spec"]["rules"]
    assert [p["matches"][0]["headers"][0] for p in pins] == [
        {"name": "x-track", "value": "champion"},
        {"name": "x-track", "value": "challenger"},
    ]
    assert [p["backendRefs"][0]["name"] for p in pins] == ["serving-champion", "serving-challenger"]
    assert {r["name"]: r["weight"] for r in split["backendRefs"]} == {
        "serving-champion": 70,
        "serving-challenger": 30,
    }
    *vs_pins, vs_split = virtual_service["spec"]["http"]
    assert [p["match"][0]["headers"]["x-track"]["exact"] for p in vs_pins] == list(canary.TRACKS)
    assert [(r["destination"]["subset"], r["weight"]) for r in vs_split["route"]] == [
        ("champion", 70),
        ("challenger", 30),
    ]
    rule = destination_rule["spec"]
    assert rule["trafficPolicy"]["loadBalancer"]["consistentHash"] == {"httpHeaderName": "x-uid"}
    assert [s["labels"] for s in rule["subsets"]] == [
        {canary.TRACK_LABEL: "champion"},
        {canary.TRACK_LABEL: "challenger"},
    ]
