"""The one door to HTTP: every call devenv makes to MLflow, serving, Jupyter, the canary
gateway's admin API and image registries goes through `request`.

One client factory (a timeout on every call), and one mapping of what goes wrong to our
errors, naming the service, what we asked of it and what to do: a bad URL -> UsageError, a
refused connection or no answer in time -> the caller's error class (StackUnhealthyError
unless told), an answer outside `expect` -> the same, with the status and the start of the
body. Tests put a fault-injecting transport in front (`use_transport`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

import httpx

from devenv.core import notice
from devenv.core.errors import DevenvError, StackUnhealthyError, UsageError, shorten

DEFAULT_TIMEOUT = 5.0
Response = httpx.Response  # what callers get back; they never import httpx themselves
_transport: httpx.BaseTransport | None = None


def use_transport(transport: httpx.BaseTransport | None) -> None:
    """Route every request through `transport` (a test double); None restores the network."""
    global _transport
    _transport = transport


def client(*, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """The one way devenv makes an HTTP client: bounded, honouring the proxy settings."""
    return httpx.Client(timeout=timeout, transport=_transport)


def origin(url: str) -> str:
    """scheme://host:port of a URL, for messages (never the query, which may hold a token)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return shorten(url)
    return shorten(f"{parts.scheme}://{parts.netloc}" if parts.netloc else url)


def request(
    method: str,
    url: str,
    *,
    service: str,
    doing: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    expect: Collection[int] | None = (200,),
    error: type[DevenvError] = StackUnhealthyError,
    hint: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One HTTP call. `expect`: the statuses that count as an answer (None: any)."""
    doing = doing or f"{method} {urlsplit(url).path or '/'}"
    hint = hint or "devenv status shows which service is unwell"
    try:
        with notice.waiting(f"{service} to answer ({doing})"), client(timeout=timeout) as session:
            response = session.request(method, url, **kwargs)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as failure:
        raise UsageError(
            f"{origin(url)} is not an address devenv can call ({failure})",
            hint="check the host and port you gave (letters, digits, dots, dashes: localhost:5000)",
        ) from None
    except httpx.TimeoutException:
        raise error(f"{service} did not answer within {timeout:g} s ({doing})", hint=hint) from None
    except httpx.ConnectError:
        raise error(
            f"{service} is not answering at {origin(url)} (connection failed: ConnectError)",
            hint=hint,
        ) from None
    except httpx.HTTPError as failure:
        raise error(f"{service} broke off {doing}: {type(failure).__name__}", hint=hint) from None
    if expect is not None and response.status_code not in expect:
        body = " ".join(response.text.split())[:160]
        raise error(
            f"{service} refused to {doing}: HTTP {response.status_code} {body}".rstrip(), hint=hint
        )
    return response


def json_body(
    response: httpx.Response, *, service: str, error: type[DevenvError] = StackUnhealthyError
) -> Any:
    """The answer's JSON, or one error line when the service sent something else."""
    try:
        return response.json()
    except ValueError:
        raise error(
            f"{service} answered with something that is not JSON "
            f"(HTTP {response.status_code}, {' '.join(response.text.split())[:80]})",
            hint="is another program listening on that port? devenv status shows the services",
        ) from None
