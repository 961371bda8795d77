"""The one door to HTTP: every call devenv makes to MLflow, serving, Jupyter, the canary
gateway's admin API and image registries goes through `request`.

One client factory (a timeout on every call), and one mapping of what goes wrong to our
errors, naming the service, what we asked of it and what to do: a bad URL -> UsageError, a
refused connection or no answer in time -> the caller's error class (StackUnhealthyError
unless told), an answer outside `expect` -> the same, with the status and the start of the
body. Tests put a fault-injecting transport in front (`use_transport`).
"""

from __future__ import annotations

import ssl
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from functools import lru_cache
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


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """httpx's own TLS settings, made once per process: loading the CA bundle costs ~17 ms,
    which a backup of hundreds of objects would pay per object."""
    return httpx.create_ssl_context()


def client(*, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """The one way devenv makes an HTTP client: bounded, honouring the proxy settings."""
    return httpx.Client(timeout=timeout, transport=_transport, verify=_tls())


def origin(url: str) -> str:
    """scheme://host:port of a URL, for messages (never the query, which may hold a token)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return shorten(url)
    return shorten(f"{parts.scheme}://{parts.netloc}" if parts.netloc else url)


@contextmanager
def _mapped(
    url: str, *, service: str, doing: str, timeout: float, error: type[DevenvError], hint: str
) -> Iterator[None]:
    """httpx's failures as one line of ours, naming the service and what we asked of it."""
    try:
        yield
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


def _refused(
    response: httpx.Response, *, service: str, doing: str, error: type[DevenvError], hint: str
) -> DevenvError:
    body = " ".join(response.text.split())[:160]
    return error(
        f"{service} refused to {doing}: HTTP {response.status_code} {body}".rstrip(), hint=hint
    )


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
    with (
        _mapped(url, service=service, doing=doing, timeout=timeout, error=error, hint=hint),
        notice.waiting(f"{service} to answer ({doing})"),
        client(timeout=timeout) as session,
    ):
        response = session.request(method, url, **kwargs)
    if expect is not None and response.status_code not in expect:
        raise _refused(response, service=service, doing=doing, error=error, hint=hint)
    return response


@contextmanager
def stream(
    method: str,
    url: str,
    *,
    service: str,
    doing: str,
    timeout: float = DEFAULT_TIMEOUT,
    expect: Collection[int] = (200,),
    error: type[DevenvError] = StackUnhealthyError,
    hint: str | None = None,
    **kwargs: Any,
) -> Iterator[httpx.Response]:
    """One HTTP call whose body (either way) is streamed: large objects never sit in memory.
    A failure while the body flows is mapped like one before it."""
    hint = hint or "devenv status shows which service is unwell"
    with (
        _mapped(url, service=service, doing=doing, timeout=timeout, error=error, hint=hint),
        client(timeout=timeout) as session,
        session.stream(method, url, **kwargs) as response,
    ):
        if response.status_code not in expect:
            response.read()
            raise _refused(response, service=service, doing=doing, error=error, hint=hint)
        yield response


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
