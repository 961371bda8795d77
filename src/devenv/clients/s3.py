"""The stack's object store as an S3 client on the host: list, stream out, stream in, delete.

Every store the template offers (SeaweedFS, MinIO, RustFS) speaks the same S3 API, so a
backup made from one restores into another. Requests are signed with AWS Signature Version 4
(the ~30 lines below, from the published algorithm): the SDK (boto3 + botocore, ~100 MB
installed) would triple devenv's install for five calls. A PUT signs the object's SHA-256,
so the store itself refuses a body that is not the one we hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, urlencode, urlsplit

from devenv.core import http

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
SERVICE = "the object store"
TIMEOUT = 60.0  # seconds without a byte, per call: big objects take longer, not slower


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str  # MD5 of the content for a single-part upload, as S3 defines it


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    payload_sha256: str,
    region: str = "us-east-1",
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that make a request S3 accepts (SigV4, header form)."""
    parts = urlsplit(url)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "host": parts.netloc,
        "x-amz-content-sha256": payload_sha256,
        "x-amz-date": stamp,
    }
    query = "&".join(
        sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in _pairs(parts.query))
    )
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            query,
            "".join(f"{name}:{headers[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (stamp[:8], region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def _pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


class Bucket:
    """One bucket of the stack's store, reached on the host port it publishes."""

    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self._keys = (access_key, secret_key)

    def _url(self, key: str = "", **query: str) -> str:
        path = f"/{quote(self.bucket, safe='')}" + (f"/{quote(key, safe='/-_.~')}" if key else "")
        return self.endpoint + path + (f"?{urlencode(sorted(query.items()))}" if query else "")

    def _headers(self, method: str, url: str, payload: str = EMPTY_SHA256) -> dict[str, str]:
        access, secret = self._keys
        return sign(method, url, access_key=access, secret_key=secret, payload_sha256=payload)

    def objects(self) -> Iterator[S3Object]:
        """Every object of the bucket, in key order (ListObjectsV2, page by page)."""
        token: str | None = None
        while True:
            query = {"list-type": "2", "max-keys": "1000"}
            if token:
                query["continuation-token"] = token
            url = self._url(**query)
            answer = http.request(
                "GET", url, service=SERVICE, doing="list the bucket", timeout=TIMEOUT,
                headers=self._headers("GET", url),
            )  # fmt: skip
            root = ET.fromstring(answer.content)  # noqa: S314 - our own stack's answer
            for item in root.iter(f"{NS}Contents"):
                yield S3Object(
                    key=item.findtext(f"{NS}Key") or "",
                    size=int(item.findtext(f"{NS}Size") or 0),
                    etag=(item.findtext(f"{NS}ETag") or "").strip('"'),
                )
            token = root.findtext(f"{NS}NextContinuationToken")
            if root.findtext(f"{NS}IsTruncated") != "true" or not token:
                return

    @contextmanager
    def read(self, key: str) -> Iterator[Iterator[bytes]]:
        """An object's bytes as they arrive."""
        url = self._url(key)
        with http.stream(
            "GET", url, service=SERVICE, doing=f"read {key}", timeout=TIMEOUT,
            headers=self._headers("GET", url),
        ) as response:  # fmt: skip
            yield response.iter_bytes(1 << 20)

    def write(self, key: str, chunks: Iterable[bytes], *, size: int, sha256: str) -> str:
        """Store an object from its chunks; its ETag. The store checks the body against
        `sha256` (signed), so a body that differs is refused, not kept."""
        url = self._url(key)
        headers = {**self._headers("PUT", url, sha256), "content-length": str(size)}
        answer = http.request(
            "PUT", url, service=SERVICE, doing=f"write {key}", timeout=TIMEOUT,
            headers=headers, content=iter(chunks),
        )  # fmt: skip
        return str(answer.headers.get("etag", "")).strip('"')

    def delete(self, key: str) -> None:
        url = self._url(key)
        http.request(
            "DELETE", url, service=SERVICE, doing=f"delete {key}", timeout=TIMEOUT,
            expect=(200, 204), headers=self._headers("DELETE", url),
        )  # fmt: skip
