"""Hostnames and paths: what an application's `domain` / `destinations` cover (spec §5.1).

Hosts match exactly, ignoring case, a trailing dot and any port. A `*` matches within one
label, possibly nothing: `*.example.com` covers `alpha.example.com` but neither
`example.com` nor `foo.bar.example.com`; `*test.example.com` covers `test.example.com` and
`alphatest.example.com`; several labels may each hold wildcards.

Paths: no path, `/` or `/*` covers every path. A path without `*` covers itself and its
subpaths (`/eng` covers `/eng` and `/eng/exec`, not `/engineering`). A `*` may span segments
(`/foo*/bar` covers `/food/stuff/bar`); `/alpha/*` covers `/alpha/one` but not `/alpha`; an
application path also covers the subpaths of what it matches. A destination's `overrides`
patterns cover exactly what they match, never implicitly their subpaths.

Both sides of a path comparison are normalised the way origins commonly read a path, so a
request cannot step around a more specific application by spelling its path differently:
the query and fragment are dropped; percent-escapes of unreserved characters and of `/` are
decoded; repeated slashes merge; `.` and `..` segments are resolved; and case is ignored
(many origin frameworks route without regard to case). A request host that is not a plain
hostname or IP literal (empty labels, `*`, spaces, slashes) matches nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "HostPattern",
    "PathPattern",
    "host_labels",
    "normalize_host",
    "normalize_path",
    "path_keys",
    "split_location",
]

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")
_SLASHES = re.compile(r"/{2,}")
_BAD_HOST = re.compile(r"[\s/\\*@?#]")
_MAX_HOST = 253


def _decode(match: re.Match[str]) -> str:
    byte = int(match.group(1), 16)
    return chr(byte) if byte in _UNRESERVED else match.group(0)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on an absolute path, segment by segment."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def normalize_path(path: str) -> str:
    """The request path as matched: no query or fragment, unreserved and `/` escapes decoded,
    slashes merged, dot segments resolved, lower case; always starting with `/`."""
    for mark in ("?", "#"):
        cut = path.find(mark)
        if cut >= 0:
            path = path[:cut]
    if "%" in path:
        path = _ESCAPE.sub(_decode, path)
    path = path.lower()
    if not path.startswith("/"):
        path = "/" + path
    if "//" in path:
        path = _SLASHES.sub("/", path)
    if "/." in path:
        path = _remove_dot_segments(path)
    return path


def path_keys(path: str) -> list[str]:
    """The index keys a normalised path can be found under: `""` and every prefix of it that
    ends before a `/` or at its end (`/a/b` → `""`, `/a`, `/a/b`)."""
    keys = [""]
    start = 1
    while (cut := path.find("/", start)) >= 0:
        keys.append(path[:cut])
        start = cut + 1
    if len(path) > 1 and not path.endswith("/"):
        keys.append(path)
    return keys


def normalize_host(host: str) -> str | None:
    """A request's host as matched (lower case, no port, no trailing dot), or None when it
    is not a hostname or an IP literal."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 1 else None
    name, colon, port = host.rpartition(":")
    if colon and (port == "" or port.isdigit()):
        host = name
    host = host.removesuffix(".")
    if not host or len(host) > _MAX_HOST or ":" in host or _BAD_HOST.search(host):
        return None
    if "" in host.split("."):
        return None
    return host


def host_labels(host: str) -> list[str]:
    """The labels of a normalised host (IPv6 literals are one label)."""
    return [host] if host.startswith("[") else host.split(".")


def split_location(location: str) -> tuple[str, str]:
    """`[scheme://]host[:port][/path]` → (host as written, path as written, `""` if none)."""
    text = location.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    cut = text.find("/")
    return (text, "") if cut < 0 else (text[:cut], text[cut:])


def _wildcard_regex(pattern: str, star: str) -> re.Pattern[str]:
    return re.compile(star.join(re.escape(piece) for piece in pattern.split("*")))


@dataclass(frozen=True, slots=True)
class HostPattern:
    """A hostname an application covers, possibly with `*` labels."""

    text: str
    labels: tuple[str, ...]
    wildcards: int
    literal_length: int
    """Characters other than `*`: more is more specific among wildcard hosts."""
    regex: re.Pattern[str] | None
    """None for an exact host."""

    @classmethod
    def parse(cls, text: str) -> HostPattern | None:
        """The pattern for a `domain`/`uri` host part, or None when it cannot match anything."""
        host = text.strip().lower()
        if not host.startswith("["):
            name, colon, port = host.rpartition(":")
            if colon and (port == "" or port.isdigit()):
                host = name
        host = host.removesuffix(".")
        if not host or "" in host.split(".") or re.search(r"[\s/\\@?#]", host):
            return None
        wildcards = host.count("*")
        regex = _wildcard_regex(host, "[^.]*") if wildcards else None
        labels = tuple(host_labels(host))
        return cls(host, labels, wildcards, len(host) - wildcards, regex)

    def index_key(self) -> tuple[int, str]:
        """(label count, the labels after the last wildcard label): where a wildcard host is
        filed (an exact host is filed under its text)."""
        last = max(i for i, label in enumerate(self.labels) if "*" in label)
        return len(self.labels), ".".join(self.labels[last + 1 :])

    def covers(self, host: str) -> bool:
        """Whether this pattern covers a normalised request host."""
        if self.regex is None:
            return host == self.text
        return self.regex.fullmatch(host) is not None


@dataclass(frozen=True, slots=True)
class PathPattern:
    """A path an application (or a destination override) covers, possibly with `*`."""

    text: str
    """Normalised; `""` covers every path."""
    wildcards: int
    literal_length: int
    """Characters before the first `*`: more is more specific."""
    subpaths: bool
    regex: re.Pattern[str] | None

    @classmethod
    def parse(cls, text: str, *, subpaths: bool = True) -> PathPattern:
        """An application path (`subpaths=True`) or an override pattern (`False`)."""
        path = normalize_path(text) if text.strip() else ""
        if subpaths and path in ("/", "/*"):
            path = ""
        wildcards = path.count("*")
        literal = path.split("*", 1)[0]
        regex = None
        if wildcards:
            tail = ""
            if subpaths and not path.endswith("*"):
                tail = ".*" if path.endswith("/") else "(?:/.*)?"
            regex = re.compile(_wildcard_regex(path, ".*").pattern + tail, re.DOTALL)
        return cls(path, wildcards, len(literal), subpaths, regex)

    def index_key(self) -> str:
        """The longest `path_keys` entry every path this pattern covers has."""
        if self.regex is not None:
            literal = self.text.split("*", 1)[0]
            return literal[: literal.rfind("/")]
        return self.text.removesuffix("/")

    def covers(self, path: str) -> bool:
        """Whether this pattern covers a normalised request path."""
        if self.regex is not None:
            return self.regex.fullmatch(path) is not None
        text = self.text
        if not text:
            return self.subpaths
        if path == text:
            return True
        if not self.subpaths:
            return False
        return path.startswith(text if text.endswith("/") else text + "/")
