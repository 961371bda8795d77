"""An image registry's Distribution (Docker Registry v2) API over plain HTTP: loopback only, no
auth. Tags, digests and server-side copies of a manifest (promotion without a pull)."""

from __future__ import annotations

import re

from devenv.core import http
from devenv.core.errors import RegistryUnavailableError, UsageError, shorten

# host[:port], as docker tags name a registry: no scheme, no path, ASCII only.
ADDRESS = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(:[0-9]{1,5})?\Z")
# What a registry may hold under a tag: Docker's and OCI's single and multi-platform manifests.
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def check_address(address: str) -> str:
    if not ADDRESS.match(address):
        raise UsageError(
            f"{shorten(address)!r} is not a registry address",
            hint="HOST or HOST:PORT with ASCII letters, digits, dots and dashes: localhost:5000",
        )
    return address


class Registry:
    def __init__(self, address: str, *, timeout: float = 30.0) -> None:
        self.address = check_address(address)
        self.timeout = timeout

    @property
    def loopback(self) -> bool:
        """Docker talks plain HTTP to a registry on loopback, HTTPS to any other."""
        return self.address.rsplit(":", 1)[0] in ("localhost", "127.0.0.1")

    @property
    def url(self) -> str:
        return f"http://{self.address}/v2"

    def _call(
        self,
        method: str,
        path: str,
        *,
        doing: str,
        expect: tuple[int, ...] = (200,),
        timeout: float | None = None,
        **kw: object,
    ) -> http.Response:
        return http.request(
            method,
            f"{self.url}{path}",
            service=f"the registry at {self.address}",
            doing=doing,
            timeout=timeout or self.timeout,
            expect=expect,
            error=RegistryUnavailableError,
            hint="devenv status shows it; devenv logs registry",
            **kw,
        )

    def responds(self) -> bool:
        try:
            self._call("GET", "/", doing="answer the version check", timeout=3)
        except RegistryUnavailableError:
            return False
        return True

    def repositories(self) -> list[str]:
        found = self._call("GET", "/_catalog", doing="list repositories", params={"n": 1000})
        body = http.json_body(
            found, service=f"the registry at {self.address}", error=RegistryUnavailableError
        )
        return list(body.get("repositories") or [])

    def digest(self, repository: str, reference: str) -> str | None:
        answer = self._call(
            "HEAD",
            f"/{repository}/manifests/{reference}",
            doing=f"read {repository}:{reference}",
            expect=(200, 404),
            headers={"Accept": MANIFEST_TYPES},
        )
        if answer.status_code == 404:
            return None
        digest: str | None = answer.headers.get("Docker-Content-Digest")
        return digest

    def copy_tag(self, repository: str, source: str, target: str) -> str:
        """Put `source`'s manifest under `target`, byte for byte; the digest the registry gives."""
        found = self._call(
            "GET",
            f"/{repository}/manifests/{source}",
            doing=f"read {repository}:{source}",
            headers={"Accept": MANIFEST_TYPES},
        )
        put = self._call(
            "PUT",
            f"/{repository}/manifests/{target}",
            doing=f"tag {repository}:{target}",
            expect=(200, 201),
            content=found.content,
            headers={"Content-Type": found.headers.get("Content-Type", "")},
        )
        return str(put.headers.get("Docker-Content-Digest", ""))
