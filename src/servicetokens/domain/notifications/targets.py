"""Where a webhook may point: the URL's shape, and which addresses and ports it may reach.

A webhook URL is chosen by whoever holds Notifications Write, and the server POSTs to it:
without these rules it would reach the server's own network (the cloud metadata service at
169.254.169.254, a database on 10.0.0.5, the API itself on 127.0.0.1). So only `http` and
`https` are allowed, on ports 80, 443 and 8088 (where Cloudflare dispatches), and every
address the host resolves to must be a public one, checked when the destination is saved
and again, after resolution, before every send (`webhooks/sender.py` connects to the address
it checked, so a name that re-resolves elsewhere — DNS rebinding — gains nothing). The
operator's `--allow-private-webhooks` lifts the address and port rules (tests, internal
receivers); the scheme and syntax rules always hold.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from servicetokens.domain.notifications.errors import InvalidWebhookUrl

__all__ = [
    "MAX_URL_LENGTH",
    "PUBLIC_PORTS",
    "Target",
    "TargetRules",
    "parse_target",
    "redacted",
]

MAX_URL_LENGTH = 2048
PUBLIC_PORTS = frozenset({80, 443, 8088})
"""The ports a webhook may use unless private targets are allowed."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Target:
    """A syntactically valid webhook URL, split."""

    url: str
    scheme: str
    host: str
    """The host name or address literal, lowercase, without IPv6 brackets."""
    port: int


def parse_target(url: object) -> Target:
    """Check a webhook URL's shape (no DNS here): `http`/`https`, a host, no fragment, at
    most 2048 characters, no whitespace or control characters."""
    if not isinstance(url, str) or not url:
        raise InvalidWebhookUrl("url must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidWebhookUrl("whitespace or control characters")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise InvalidWebhookUrl(f"malformed ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookUrl("the scheme must be http or https")
    if not host:
        raise InvalidWebhookUrl("no host")
    if parts.fragment or url.endswith("#"):
        raise InvalidWebhookUrl("a fragment is not allowed")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if port == 0:
        raise InvalidWebhookUrl("port 0")
    return Target(url=url, scheme=parts.scheme, host=host.lower(), port=port)


def redacted(url: str) -> str:
    """The URL without its user info (it may carry a password) and without its query
    (it may carry a token): what logs and the history show."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{netloc}{parts.path}"
    except ValueError:
        return "(malformed)"


def _unwrapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return mapped
        if address in _NAT64:  # 64:ff9b::/96 embeds an IPv4 address in its last 32 bits
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
            return ipaddress.IPv4Address(int(address))
    return address


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


_NOT_GLOBAL = tuple(
    ipaddress.ip_network(block)
    for block in (
        "192.0.0.0/24",  # IETF protocol assignments (only parts are global; none is a receiver)
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT, RFC 2765)
        "100::/64",  # discard-only
        "100:0:0:1::/64",  # dummy prefix (RFC 9780)
        "5f00::/16",  # SRv6 SIDs (RFC 9602)
        "3fff::/20",  # documentation (RFC 9637)
        "fec0::/10",  # deprecated site-local, still routed by some stacks
    )
)
"""Blocks IANA lists as not globally reachable that Python 3.11's `is_global` still
passes (newer Pythons know some of them)."""


def _kind(address: IPAddress) -> str | None:
    """What kind of non-public address this is (`a loopback`), or None."""
    inner = _unwrapped(address)
    if inner.is_loopback:
        return "a loopback"
    if inner.is_link_local:
        return "a link-local"
    if inner.is_multicast:
        return "a multicast"
    if inner.is_unspecified:
        return "the unspecified"
    if inner.is_private:
        return "a private"
    if not inner.is_global or any(address in block for block in _NOT_GLOBAL):
        return "a non-public"
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why a resolved address may not be a webhook target, or None for a public one.

    Public means `is_global` (not loopback, private, link-local, shared 100.64/10,
    benchmarking, documentation, reserved…), not multicast and not in `_NOT_GLOBAL`,
    judged on the IPv4 address inside IPv4-mapped, 6to4, NAT64 and IPv4-compatible IPv6
    forms."""
    kind = _kind(address)
    if kind is None:
        return None
    return f"{address} is {kind} address"


@dataclass(frozen=True, slots=True)
class TargetRules:
    """The operator's choice: private targets allowed (`--allow-private-webhooks`) or not."""

    allow_private: bool = False

    def check_port(self, target: Target) -> None:
        """Refuse a port outside 80, 443, 8088 (unless private targets are allowed)."""
        if not self.allow_private and target.port not in PUBLIC_PORTS:
            raise InvalidWebhookUrl(f"port {target.port} is not one of 80, 443, 8088")

    def check_addresses(self, addresses: list[str], *, name: str | None = None) -> list[str]:
        """The resolved addresses a send may use: all of them, or a refusal when any one is
        not public (a name resolving to one public and one private address is refused
        whole: which one a client picks is not ours to rely on). With `name` (what was
        resolved), the refusal names the class of address but not the address: the
        caller of a test message must not learn what the server's DNS says about
        internal names."""
        if not addresses:
            raise InvalidWebhookUrl("the host does not resolve")
        if self.allow_private:
            return addresses
        for text in addresses:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                raise InvalidWebhookUrl(f"unusable address {text[:64]}") from None
            if name is not None:
                kind = _kind(address)
                if kind is not None:
                    raise InvalidWebhookUrl(f"{name[:253]} resolves to {kind} address")
                continue
            reason = address_refusal(address)
            if reason is not None:
                raise InvalidWebhookUrl(reason)
        return addresses
