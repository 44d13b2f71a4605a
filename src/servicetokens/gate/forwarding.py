"""What the gate says to an upstream about a request, and nothing a client said for it.

The gate alone speaks for the caller. A client's own identity and forwarding headers
(everything in Cloudflare's `cf-*` namespace, `Forwarded`, `X-Forwarded-*`, `X-Real-IP`,
`True-Client-IP`, and any header it names in `Connection:`) never reach the upstream; the
gate sets exactly one `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and
`CF-Connecting-IP` of its own, from the client address that `domain.network` works out
(believing forwarding headers only from trusted proxies).

Also here: the request target. Only origin-form (`/path?query`) is proxied, and its path is
resolved (dot segments, also percent-encoded, removed) inside the upstream's base path, so
a request can never name another host or climb above the base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from servicetokens.domain.network import ClientAddress, TrustedProxies
from servicetokens.domain.request_ids import RequestIds, accepted_request_id

__all__ = [
    "DROPPED_HEADERS",
    "DROPPED_PREFIXES",
    "Forwarded",
    "Upstream",
    "dropped",
    "read_forwarded",
    "resolve_path",
]

DROPPED_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-real-ip",
        b"true-client-ip",
        b"x-client-ip",
        b"x-cluster-client-ip",
        b"fastly-client-ip",
        b"client-ip",
        b"x-original-forwarded-for",
        # The gate sets its own (a trusted proxy's is kept: `Forwarded.request_id`).
        b"x-request-id",
        # Hop-by-hop (RFC 9110 §7.6.1) and what the gate's client sets for itself.
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        # The gate reads the body itself (answering `100 Continue` when it does); passed on,
        # it would leave aiohttp waiting, untimed, for an upstream's `100`.
        b"expect",
    }
)
"""Request headers never forwarded (besides the prefixes and the credential headers)."""

DROPPED_PREFIXES = (b"cf-", b"x-forwarded-")
"""Cloudflare's namespace and the de-facto forwarding family: only the gate sets these."""

_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(?::[0-9]{1,5})?$")
_MAX_HOST = 255
_PROTOS = frozenset({"http", "https"})
_MAX_URI = 8192
_URI = re.compile(rb"^/[\x21-\x22\x24-\x7e]*\Z")
_METHOD = re.compile(rb"^[A-Za-z]{1,16}\Z")


def dropped(name: bytes) -> bool:
    """Whether a client's header (lowercase name) is never forwarded upstream.

    `_` counts as `-`: CGI-style upstreams (WSGI, PHP, Go's CGI) read `CF_CONNECTING_IP` and
    `CF-Connecting-IP` as the same variable."""
    if b"_" in name:
        name = name.replace(b"_", b"-")
    return name in DROPPED_HEADERS or name.startswith(DROPPED_PREFIXES)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What the gate tells the upstream about where a request came from."""

    address: ClientAddress
    proto: str
    """`http` or `https`: how the client reached the gate (or the trusted proxy before it)."""
    host: str | None
    """The host the client asked for, as a trusted proxy reported it, or the `Host` header."""
    uri: str | None = None
    """The request target a trusted proxy reported in `X-Forwarded-Uri` (forward-auth), if
    it is an origin-form target (`/path?query`)."""
    method: str | None = None
    """The method a trusted proxy reported in `X-Forwarded-Method` (forward-auth)."""
    request_id: str = ""
    """The request's id, sent upstream as `X-Request-Id`: a trusted proxy's own, else new."""

    @property
    def client(self) -> str | None:
        """The client's address."""
        return self.address.client

    @property
    def secure(self) -> bool:
        """Whether the client's connection was HTTPS."""
        return self.proto == "https"


_hosts: dict[bytes, str | None] = {}


def _valid_host(value: bytes) -> str | None:
    """The host name in a `Host` (or trusted `X-Forwarded-Host`) value, if it is one."""
    if not value or len(value) > _MAX_HOST:
        return None  # checked first: nothing longer than a host name is ever remembered
    known = _hosts.get(value, "")
    if known != "":
        return known
    text = value.decode("latin-1").strip()
    host = text if _HOST.match(text) else None
    if len(_hosts) >= 4096:
        _hosts.clear()
    _hosts[value] = host
    return host


_IDS = RequestIds()


def read_forwarded(
    scope: dict[str, Any], proxies: TrustedProxies, ids: RequestIds = _IDS
) -> Forwarded:
    """The forwarding facts of a request (ASGI scope): one pass over the headers; a new
    request id from `ids` unless a trusted proxy sent one."""
    client = scope.get("client")
    peer = client[0] if client else None
    proto = "https" if scope.get("scheme") == "https" else "http"
    host_header: bytes = b""
    forwarded_for: list[bytes] = []
    forwarded_proto: bytes | None = None
    forwarded_host: bytes | None = None
    forwarded_uri: bytes | None = None
    forwarded_method: bytes | None = None
    request_id: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"host":
            host_header = value
        elif name == b"x-forwarded-for":
            forwarded_for.append(value)
        elif name == b"x-forwarded-proto":
            forwarded_proto = value
        elif name == b"x-forwarded-host":
            forwarded_host = value
        elif name == b"x-forwarded-uri":
            forwarded_uri = value
        elif name == b"x-forwarded-method":
            forwarded_method = value
        elif name == b"x-request-id":
            request_id = value
    address = proxies.resolve(peer, forwarded_for)
    host = uri = method = kept_id = None
    if address.trusted_peer:
        if request_id is not None:
            kept_id = accepted_request_id(request_id)
        if forwarded_uri is not None:
            uri = _origin_form(forwarded_uri)
        if forwarded_method is not None and _METHOD.match(forwarded_method):
            method = forwarded_method.decode("ascii").upper()
        if forwarded_proto is not None:
            # The leftmost entry is the scheme the client itself used.
            claimed = forwarded_proto.split(b",", 1)[0].strip().lower().decode("latin-1")
            if claimed in _PROTOS:
                proto = claimed
        if forwarded_host is not None:
            host = _valid_host(forwarded_host.split(b",", 1)[0])
    if host is None:
        host = _valid_host(host_header)
    return Forwarded(address, proto, host, uri, method, kept_id or ids.new())


def _origin_form(value: bytes) -> str | None:
    """A reported request target if it is `/path[?query]` in printable ASCII (no space, no
    fragment), at most 8 KiB."""
    if len(value) > _MAX_URI or not _URI.match(value):
        return None
    return value.decode("ascii")


class Upstream:
    """The upstream's base URL, and the one way a request target is turned into a URL of it."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        if parts.scheme not in _PROTOS or not parts.hostname:
            raise ValueError(f"the upstream must be an http(s) URL with a host, not {base!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"the upstream URL must not carry a query, fragment or user: {base!r}")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.base_path = parts.path.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)

    def url(self, path: str, query: bytes) -> str | None:
        """The upstream URL (percent-encoded) for a path from `resolve_path` and a raw query
        string; None when the query cannot be passed on (it holds a fragment)."""
        url = self.origin + self.base_path + path
        if query:
            if b"#" in query:
                return None
            url += "?" + query.decode("latin-1")
        return url


_SEPARATORS = re.compile(rb"[/\\]")


def resolve_path(raw_path: bytes) -> str | None:
    """An origin-form path with its dot segments removed (RFC 3986 §5.2.4), never climbing
    above `/`; None for anything else (absolute-form, authority-form, `*`, a fragment, or
    a segment hiding a dot segment behind an encoded separator)."""
    if not raw_path.startswith(b"/") or b"#" in raw_path or b"?" in raw_path:
        return None
    try:
        text = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return None
    segments = text[1:].split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if "%" in segment or "\\" in segment or ";" in segment:
            decoded = unquote_to_bytes(segment)
            parts = _SEPARATORS.split(decoded)
            if len(parts) > 1 and any(p in (b".", b"..") for p in parts):
                return None
            # `..;x` is `..` to Tomcat, Jetty and Spring (a path parameter): refuse it.
            if decoded.split(b";", 1)[0] in (b".", b"..") and b";" in decoded:
                return None
            dots = decoded if decoded in (b".", b"..") else None
        else:
            dots = segment.encode() if segment in (".", "..") else None
        if dots == b"..":
            if out:
                out.pop()
        elif dots is None:
            out.append(segment)
            continue
        if last:
            out.append("")  # `/a/b/..` resolves to `/a/`
    return "/" + "/".join(out)
