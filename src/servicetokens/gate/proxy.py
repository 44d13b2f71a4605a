"""The reverse proxy: streams a request to the upstream and its answer back (aiohttp).

aiohttp rather than httpx: profiling the gate under 32 concurrent connections showed
httpcore's pool re-scanning (and poll()ing) every pooled connection on each assignment,
dozens of times per request; aiohttp's C-accelerated client keeps the proxy itself cheap,
which is what lets the cost of checking show (see docs/performance.md).

What reaches the upstream is decided in `gate/forwarding.py`: no credential, no client-sent
identity or forwarding header, and exactly one `X-Forwarded-For`/`-Proto`/`-Host` and
`CF-Connecting-IP` of the gate's own. Hop-by-hop headers are dropped both ways. Bodies
stream in both directions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from servicetokens.gate.credentials import COOKIE_NAME
from servicetokens.gate.forwarding import (
    DROPPED_HEADERS,
    DROPPED_PREFIXES,
    Forwarded,
    Upstream,
    dropped,
)

__all__ = ["ASSERTION_HEADER", "ClientDisconnected", "UpstreamProxy", "refusal"]

ASSERTION_HEADER = b"cf-access-jwt-assertion"
_ASSERTION_NAME = ASSERTION_HEADER.decode("ascii")
_COOKIE_PREFIX = COOKIE_NAME.encode() + b"="
_RESPONSE_DROP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""Response headers not passed back (bytes pass through raw, so content-length holds)."""

_ERRORS = {
    302: "redirect",
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    429: "rate_limited",
    502: "bad_gateway",
    504: "gateway_timeout",
}

_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close"})
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"

Scope = dict[str, Any]
Message = dict[str, Any]


class ClientDisconnected(Exception):
    """The client went away while its body was being streamed upstream."""


def _without_cookie(value: bytes) -> bytes:
    parts = [p.strip() for p in value.split(b";")]
    return b"; ".join(p for p in parts if p and not p.startswith(_COOKIE_PREFIX))


def refusal(
    status: int, reason: str, *, retry_after: float = 0.0, location: str | None = None
) -> tuple[bytes, Message]:
    """A short JSON answer for a refused request: (body, response-start message); a 302
    carries `location`."""
    error = _ERRORS.get(status, "unavailable")
    body = b'{"error":"%s","reason":"%s"}' % (error.encode(), reason.encode())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry_after:
        headers.append((b"retry-after", str(max(1, round(retry_after))).encode()))
    if location is not None:
        # Percent-encoded: whatever an application's deny URL holds, never a control
        # character or a byte outside ASCII in a header.
        headers.append((b"location", quote(location, safe=_URL_SAFE).encode("ascii")))
    return body, {"type": "http.response.start", "status": status, "headers": headers}


class UpstreamProxy:
    """Forwards requests to an upstream (its own, or the one each request names) over a
    pooled keep-alive client."""

    def __init__(
        self, upstream: Upstream | None, *, strip: frozenset[bytes], timeout: float
    ) -> None:
        self.upstream = upstream
        self._strip = strip
        """Credential headers (lowercase), never forwarded."""
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=min(timeout, 5.0), sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None
        self.errors = 0
        """Requests the upstream did not answer (502/504)."""
        self.timeouts = 0
        """Of those, the ones it did not answer in time (504)."""

    async def start(self) -> None:
        """Open the connection pool."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=30, ttl_dns_cache=60),
            timeout=self._timeout,
            auto_decompress=False,  # bytes pass through as the upstream encoded them
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()

    def _headers(
        self, scope: Scope, assertion: str | None, forwarded: Forwarded, strip: frozenset[bytes]
    ) -> tuple[list[tuple[str, str]], bool]:
        """The upstream request's headers, ready for aiohttp, and whether a body follows:
        one pass over the client's headers, nothing copied twice."""
        headers: list[tuple[str, str]] = []
        has_body = False
        named: list[bytes] = []  # what `Connection:` lists: hop-by-hop for this request
        for name, value in scope["headers"]:
            if (
                name in strip
                or name in DROPPED_HEADERS
                or name.startswith(DROPPED_PREFIXES)
                or (b"_" in name and dropped(name))
            ):
                if name == b"transfer-encoding":
                    has_body = True
                elif name == b"connection":
                    named.extend(t.strip().lower() for t in value.split(b","))
                continue
            if name == b"cookie":
                if _COOKIE_PREFIX in value:
                    value = _without_cookie(value)
                    if not value:
                        continue
            elif name == b"content-length":
                has_body = has_body or value != b"0"
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if named:
            listed = {n.decode("latin-1") for n in named if n and n not in _PLAIN_CONNECTION}
            if listed:
                # The body was announced to the gate; aiohttp re-frames what it forwards.
                headers = [h for h in headers if h[0] not in listed]
        address = forwarded.address
        if address.chain:
            headers.append(("x-forwarded-for", ", ".join(address.chain)))
        if address.client is not None:
            headers.append(("cf-connecting-ip", address.client))
        headers.append(("x-forwarded-proto", forwarded.proto))
        if forwarded.host is not None:
            headers.append(("x-forwarded-host", forwarded.host))
        if assertion is not None:
            headers.append((_ASSERTION_NAME, assertion))
        headers.append(("x-request-id", forwarded.request_id))
        return headers, has_body

    async def forward(
        self,
        scope: Scope,
        receive: Any,
        send: Any,
        *,
        target: str,
        forwarded: Forwarded,
        assertion: str | None,
        set_cookie: bytes | None = None,
        upstream: Upstream | None = None,
        strip: frozenset[bytes] | None = None,
    ) -> None:
        """Proxy one HTTP request to `target` (from `upstream.url`; by default the proxy's
        own upstream) and stream the answer, never forwarding the headers in `strip` (by
        default the credential headers the proxy was built with).

        Checked and unchecked requests take this same path; checking adds the assertion
        header and, sometimes, the cookie."""
        assert self._session is not None, "start() first"
        headers, has_body = self._headers(
            scope, assertion, forwarded, self._strip if strip is None else strip
        )
        url = URL(target, encoded=True)
        upstream = self.upstream if upstream is None else upstream
        if upstream is None or url.host != upstream.host or url.port != upstream.port:
            await _answer(send, 400, "bad request target")  # cannot happen: defence in depth
            return
        try:
            response = await self._session.request(
                scope["method"],
                url,
                headers=headers,
                data=_body(receive) if has_body else None,
                allow_redirects=False,
            )
        except TimeoutError:
            self.errors += 1
            self.timeouts += 1
            await _answer(send, 504, "upstream timed out")
            return
        except (aiohttp.ClientError, ClientDisconnected, ValueError):
            self.errors += 1
            await _answer(send, 502, "upstream unreachable")
            return
        try:
            out = []
            for name, value in response.raw_headers:
                name = name.lower()
                if name not in _RESPONSE_DROP:
                    out.append((name, value))
            if set_cookie is not None:
                out.append((b"set-cookie", set_cookie))
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            content = response.content
            chunk = await content.readany()
            if content.at_eof():  # the whole body is here already (small answers): one send
                await send({"type": "http.response.body", "body": chunk, "more_body": False})
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            async for chunk in content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            response.release()


async def _body(receive: Any) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _answer(send: Any, status: int, reason: str) -> None:
    body, start = refusal(status, reason)
    await send(start)
    await send({"type": "http.response.body", "body": body})
