"""Who is calling, as far as the network can tell: the client address behind trusted proxies.

One rule decides the client address for every use (failure throttling, the audit log,
`X-Forwarded-For` and `CF-Connecting-IP` towards an upstream): start from the peer that
opened the connection; while that hop is a *trusted proxy*, believe the address it reports
(the rightmost `X-Forwarded-For` entry it added) and step left. The first hop that is not a
trusted proxy is the client. Everything to its left was written by the client itself and is
worth nothing. A trusted proxy that reports garbage (not an IP address) ends the walk at
that proxy.

Pure: standard library only (`ipaddress`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_TRUSTED_PROXIES",
    "ClientAddress",
    "TrustedProxies",
    "parse_ip",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TRUSTED_PROXIES = ("127.0.0.0/8", "::1/128")
"""Loopback only: a proxy on the same host (nginx, Caddy, Traefik beside the gate)."""

_MAX_HOPS = 32
_MAX_PEERS = 4096
_MAX_ADDRESS_TEXT = 64


def parse_ip(text: str | None) -> str | None:
    """`text` as a canonical IP address string, or None when it is not one.

    Accepts an IPv6 address in brackets and drops an IPv6 zone; never returns anything that
    is not an address (so nothing a client wrote can reach a log or a header unchecked).
    """
    if not text:
        return None
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    candidate = candidate.split("%", 1)[0]
    if not candidate or len(candidate) > 45:
        return None
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@dataclass(frozen=True, slots=True)
class ClientAddress:
    """Where a request came from."""

    client: str | None
    """The client's address (None when the connection has no peer, e.g. a Unix socket)."""
    chain: tuple[str, ...]
    """Addresses from the client to the peer, each vouched for by the hop to its right: what
    `X-Forwarded-For` says upstream."""
    trusted_peer: bool
    """Whether the connection came from a trusted proxy (whose other forwarding headers,
    such as `X-Forwarded-Proto`, may then be believed)."""


class TrustedProxies:
    """The set of proxies whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[str] = DEFAULT_TRUSTED_PROXIES) -> None:
        """From CIDRs (`10.0.0.0/8`, `::1`, ...); `none` adds nothing (so `["none"]` trusts
        nobody). Raises ValueError for anything else."""
        parsed: list[IPNetwork] = []
        for network in networks:
            text = network.strip()
            if text and text.lower() != "none":
                parsed.append(ipaddress.ip_network(text, strict=False))
        self.networks: tuple[IPNetwork, ...] = tuple(parsed)
        self._peers: dict[str | None, tuple[str | None, bool, ClientAddress]] = {}

    def describe(self) -> str:
        """The networks, comma-separated (`none` when empty)."""
        return ",".join(str(n) for n in self.networks) or "none"

    def trusts(self, address: str) -> bool:
        """Whether `address` (a canonical IP string) is a trusted proxy."""
        ip = ipaddress.ip_address(address)
        return any(ip.version == n.version and ip in n for n in self.networks)

    def _peer(self, text: str | None) -> tuple[str | None, bool, ClientAddress]:
        """(canonical address, trusted?, the answer when it is not trusted) for a peer or a
        reported hop: memoised, since the same few addresses arrive again and again."""
        known = self._peers.get(text)
        if known is None:
            ip = parse_ip(text)
            trusted = ip is not None and self.trusts(ip)
            direct = ClientAddress(ip, () if ip is None else (ip,), False)
            known = (ip, trusted, direct)
            if text is None or len(text) <= _MAX_ADDRESS_TEXT:  # never remember garbage
                if len(self._peers) >= _MAX_PEERS:
                    self._peers.clear()
                self._peers[text] = known
        return known

    def resolve(self, peer: str | None, forwarded_for: Sequence[bytes | str]) -> ClientAddress:
        """The client behind `peer`, given the `X-Forwarded-For` header values received."""
        peer_ip, trusted, direct = self._peer(peer)
        if not trusted or peer_ip is None:
            return direct
        reported: list[str] = []
        for value in forwarded_for:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            reported.extend(text.split(","))
        chain = [peer_ip]
        client = peer_ip
        for entry in reversed(reported[-_MAX_HOPS:]):
            hop, hop_trusted, _ = self._peer(entry.strip())
            if hop is None:
                break  # a trusted proxy reported garbage: it is the last hop we can name
            chain.append(hop)
            client = hop
            if not hop_trusted:
                break
        return ClientAddress(client, tuple(reversed(chain)), True)
