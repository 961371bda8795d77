"""Corporate networks, for real: a TLS-intercepting proxy (mitmproxy, with its own CA) between
the stack and PyPI, the way a company proxy re-signs every HTTPS connection.

With HTTPS_PROXY and EXTRA_CA_CERTS (the proxy's CA) in .env, an image build installs through
the proxy, and in the running JupyterLab `pip download` and an httpx request pass through it.
Without the CA, the same build stops with devenv's message naming EXTRA_CA_CERTS, and the
same calls in Jupyter fail certificate checks. The proxy's own log is the evidence that each
request went through it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, cleaned_up, devenv_cli, free_port, new_stack

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MITMPROXY = "mitmproxy>=11,<13"
# Small pure-Python packages nothing else in the stack installs: pip cannot answer for them
# from its cache, so each must cross the proxy.
# With its hash, as the image's lock carries every pin (pip --require-hashes): PyPI's wheel.
BUILD_PACKAGE = (
    "pyjokes==0.8.3 --hash=sha256:12836e61bc7a2c1ff302604a040f0f63ac36c5c947c20319fcb5d1ab37bac46e"
)
RUNTIME_PACKAGE = "inflection"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the images' store, without the proxy CA


@dataclass
class Proxy:
    url: str  # as the containers reach it
    ca: Path
    log: Path

    def seen(self) -> str:
        return self.log.read_text(errors="replace")


def mitmdump() -> Path:
    """mitmproxy in its own virtualenv (its pins do not mix with the project's), kept between
    runs on this machine."""
    venv = Path.home() / ".cache" / "ml-devenv-tests" / "mitmproxy"
    exe = venv / "bin" / "mitmdump"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", MITMPROXY], check=True, timeout=600
        )
    return exe


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge: containers and build steps reach it."""
    out = subprocess.run(
        [
            "docker",
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    home = tmp_path_factory.mktemp("mitmproxy")
    port = free_port()
    log = home / "flows.log"
    # Upstream, mitmproxy checks certificates against the host's store (on these machines a
    # proxy of their own re-signs, with its CA in that store).
    # `lazy`: the request is logged (host included) before any upstream connection, so a
    # request that should have skipped the proxy shows by name even though it fails.
    cmd = [str(mitmdump()), "--listen-host", "0.0.0.0", "--listen-port", str(port)]
    cmd += ["--set", f"confdir={home}", "--set", "connection_strategy=lazy"]
    cmd += ["--set", f"ssl_verify_upstream_trusted_ca={SYSTEM_BUNDLE}"]
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    ca = home / "mitmproxy-ca-cert.pem"
    try:
        for _ in range(100):
            if ca.is_file() and f":{port}" in log.read_text():
                break
            if process.poll() is not None:
                pytest.fail(f"mitmdump exited: {log.read_text()[-800:]}")
            time.sleep(0.2)
        yield Proxy(f"http://{bridge_gateway()}:{port}", ca, log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def set_env(stack: Stack, **values: str) -> None:
    """Replace (or add) .env keys, as a user edits the file."""
    path = stack.root / ".env"
    lines = [ln for ln in path.read_text().splitlines() if ln.split("=", 1)[0] not in values]
    path.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n")


def add_requirement(stack: Stack, line: str) -> None:
    """A changed layer, new to the build cache (the comment differs every run): pip runs, and
    asks the index for a package no other build here has asked for."""
    path = stack.root / "services" / "jupyter" / "requirements.lock"
    path.write_text(path.read_text() + f"{line}  # {stack.name}\n")


def devenv(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: no proxy in devenv's own environment, only in .env."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return devenv_cli(stack.root, *args, env=env, timeout=1800)


@pytest.fixture(scope="module")
def proxied(
    tmp_path_factory: pytest.TempPathFactory, kit_overrides: str, proxy: Proxy
) -> Iterator[Stack]:
    """Postgres, the object store, MLflow and JupyterLab, everything behind the proxy."""
    stack = new_stack(tmp_path_factory, kit_overrides, {"gpu": "none", "include_serving": False})
    set_env(stack, HTTPS_PROXY=proxy.url, HTTP_PROXY=proxy.url, EXTRA_CA_CERTS=str(proxy.ca))
    add_requirement(stack, BUILD_PACKAGE)
    with cleaned_up(stack):
        yield stack


def test_build_passes_through_the_proxy_with_its_ca(proxied: Stack, proxy: Proxy) -> None:
    started = time.monotonic()
    done = devenv(proxied, "up")
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\nbuild and up through mitmproxy: {time.monotonic() - started:.0f} s")
    package = BUILD_PACKAGE.split("==")[0]
    seen = proxy.seen()
    assert re.search(rf"GET https://pypi\.org/simple/{package}/", seen), seen[-2000:]


def test_jupyter_pip_and_https_pass_through_the_proxy(proxied: Stack, proxy: Proxy) -> None:
    pip = ["pip", "download", "--no-deps", "--no-cache-dir", "-d", "/tmp/dl", RUNTIME_PACKAGE]
    proxied.exec("jupyter", *pip)
    fetched = "import httpx; print(httpx.get('https://pypi.org/simple/six/').status_code)"
    assert proxied.exec("jupyter", "python", "-c", fetched).strip() == "200"
    seen = proxy.seen()
    assert re.search(rf"GET https://pypi\.org/simple/{RUNTIME_PACKAGE}/", seen), seen[-2000:]
    assert "GET https://files.pythonhosted.org/" in seen
    assert "GET https://pypi.org/simple/six/" in seen
    # The stack's own calls skip the proxy: MLflow answered Jupyter's healthcheck chain, and
    # no request for a service name reached the proxy.
    assert not re.search(r"https?://(mlflow|postgres|objectstore|jupyter)[:/]", seen), seen


def test_without_the_proxy_ca_calls_fail_certificate_checks(proxied: Stack) -> None:
    # Every variable the stack sets, pointed back at the image's own store: as without the CA.
    keys = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    untrusted = [f"{key}={SYSTEM_BUNDLE}" for key in keys]
    flags = [arg for pair in untrusted for arg in ("-e", pair)]
    pip = ["pip", "download", "--no-deps", "--no-cache-dir", "-d", "/tmp/dl2", "six"]
    done = proxied.compose("exec", "-T", *flags, "jupyter", *pip)
    assert done.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in done.stdout + done.stderr
    fetched = "import httpx; httpx.get('https://pypi.org/simple/six/')"
    done = proxied.compose("exec", "-T", *flags, "jupyter", "python", "-c", fetched)
    assert done.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in done.stderr


def test_build_without_the_ca_names_extra_ca_certs(proxied: Stack) -> None:
    set_env(proxied, EXTRA_CA_CERTS="")
    add_requirement(proxied, "pyfiglet==1.0.2")
    done = devenv(proxied, "up", "--build")
    assert done.returncode != 0
    said = done.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in said and "EXTRA_CA_CERTS" in said, said[-2000:]
    assert "Traceback" not in said
