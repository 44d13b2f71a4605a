"""Where a gate that serves Access applications sends each hostname: `--route HOST=URL`.

`HOST` is a hostname (matched like an application's: case ignored, no port, no trailing
dot) or `*.` and a domain, which covers exactly one more label (`*.example.com` covers
`a.example.com`, not `example.com` nor `a.b.example.com`), as an application's wildcard
does. An exact route wins over a wildcard one. The request's host is the one matching used:
the validated `Host`, or what a trusted proxy reported in `X-Forwarded-Host`.
"""

from __future__ import annotations

from collections.abc import Iterable

from servicetokens.domain.enforcement.locations import normalize_host
from servicetokens.gate.forwarding import Upstream

__all__ = ["Routes", "parse_route"]


def parse_route(text: str) -> tuple[str, str]:
    """`HOST=URL` → (host pattern as matched, URL); raises ValueError naming the problem."""
    host, sep, url = text.partition("=")
    host, url = host.strip(), url.strip()
    if not sep or not host or not url:
        raise ValueError(f"a route is HOST=URL, not {text!r}")
    wildcard = host.startswith("*.")
    name = normalize_host(host[2:] if wildcard else host)
    if name is None or ("*" in host[2:] if wildcard else "*" in host):
        raise ValueError(f"not a hostname (or *.domain) in route {text!r}")
    Upstream(url)  # raises ValueError for anything but http(s)://host[:port][/base]
    return ("*." + name if wildcard else name), url


class Routes:
    """Hostname → upstream, looked up with at most two dictionary reads."""

    def __init__(self, routes: Iterable[tuple[str, str]]) -> None:
        """From (`HOST`, `URL`) pairs (`parse_route`'s); a host given twice is an error."""
        self._exact: dict[str, Upstream] = {}
        self._wild: dict[str, Upstream] = {}
        for host, url in routes:
            name, _ = parse_route(f"{host}={url}")
            table, key = (self._wild, name[2:]) if name.startswith("*.") else (self._exact, name)
            if key in table:
                raise ValueError(f"two routes for {host}")
            table[key] = Upstream(url)
        self._memo: dict[str, Upstream | None] = {}

    def __len__(self) -> int:
        return len(self._exact) + len(self._wild)

    def upstream(self, host: str | None) -> Upstream | None:
        """The upstream for a request's host (port allowed), or None."""
        if host is None:
            return None
        memo = self._memo
        if host in memo:
            return memo[host]
        name = normalize_host(host)
        upstream = None
        if name is not None:
            upstream = self._exact.get(name)
            if upstream is None and self._wild and not name.startswith("["):
                _, dot, parent = name.partition(".")
                upstream = self._wild.get(parent) if dot else None
        if len(memo) >= 4096:
            memo.clear()
        memo[host] = upstream
        return upstream

    def describe(self) -> str:
        """`host -> URL, ...` for the start-up line."""
        pairs = list(self._exact.items())
        pairs += [("*." + h, u) for h, u in self._wild.items()]
        return ", ".join(f"{host} -> {up.origin}{up.base_path}" for host, up in pairs)
