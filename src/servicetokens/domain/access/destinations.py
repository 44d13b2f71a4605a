"""What an application protects: its `domain`, `self_hosted_domains` and `destinations`.

A self-hosted application names hostnames, each with an optional path (`app.example.com`,
`*.example.com/admin`). `destinations` supersedes `self_hosted_domains`, which supersedes
`domain`; whichever the client sent, the others are filled in from it so that every
application has all three, and the public destinations are what the gate matches. Two
applications of one account may not claim the same public hostname and path (`claim_key`).
"""

from __future__ import annotations

import re

from servicetokens.domain.access.values import JsonObject, json_object, string, string_list
from servicetokens.domain.errors import ValidationError

__all__ = [
    "DESTINATION_TYPES",
    "claim_key",
    "parse_destinations",
    "parse_uri",
    "public_uris",
]

DESTINATION_TYPES = frozenset(
    {
        "public",
        "private",
        "via_mcp_server_portal",
        "worker",
        "preview_worker",
        "all_workers",
        "all_preview_workers",
    }
)

MAX_URI_LENGTH = 2048
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9*_-]+(?:\.[A-Za-z0-9*_-]+)*\.?$")
_LABEL_STARS = re.compile(r"\*.*\*")


def parse_uri(value: object, field: str) -> str:
    """A hostname with an optional path (`host[/path]`, no scheme, no port), as sent.

    A label may hold at most one `*` (Cloudflare's rule); the path is anything printable
    without spaces."""
    text = string(value, field, max_length=MAX_URI_LENGTH)
    host, slash, path = text.partition("/")
    if not _HOST.match(host):
        raise ValidationError(f"{field} {text[:80]!r} is not a hostname with an optional path")
    if any(_LABEL_STARS.search(label) for label in host.split(".")):
        raise ValidationError(f"{field} {text[:80]!r} has more than one * in a label")
    if slash and not all(c.isprintable() and not c.isspace() for c in path):
        raise ValidationError(f"{field} {text[:80]!r} has a space or control character")
    return text


def claim_key(uri: str) -> str:
    """What two applications may not both claim: the hostname, case-folded, and the path
    (a trailing `/` or `/*` changes nothing: both cover every path below)."""
    host, _, path = uri.partition("/")
    path = path.rstrip("/")
    if path == "*":
        path = ""
    host = host.rstrip(".").lower()
    return f"{host}/{path}" if path else host


def _destination(value: object, index: int) -> JsonObject:
    field = f"destinations[{index}]"
    item = json_object(value, field)
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in DESTINATION_TYPES:
        raise ValidationError(f"{field}.type must be one of {', '.join(sorted(DESTINATION_TYPES))}")
    if kind == "public":
        if "uri" not in item:
            raise ValidationError(f"{field}.uri is required for a public destination")
        parse_uri(item["uri"], f"{field}.uri")
    return item


def parse_destinations(
    domain: str, destinations: object, self_hosted_domains: object
) -> tuple[list[JsonObject], list[str]]:
    """`destinations` and `self_hosted_domains` as stored: as sent, else derived (public
    destinations from `self_hosted_domains`, else from `domain`; `self_hosted_domains` from
    the public destinations, else `[domain]`)."""
    hosted = (
        None
        if self_hosted_domains is None
        else [
            parse_uri(uri, f"self_hosted_domains[{i}]")
            for i, uri in enumerate(string_list(self_hosted_domains, "self_hosted_domains"))
        ]
    )
    if destinations is not None:
        if not isinstance(destinations, list):
            raise ValidationError("destinations must be an array of objects")
        parsed = [_destination(item, i) for i, item in enumerate(destinations)]
        if hosted is None:
            hosted = public_uris(parsed)
        return parsed, hosted
    if hosted is None:
        hosted = [domain]
    return [{"type": "public", "uri": uri} for uri in hosted], hosted


def public_uris(destinations: list[JsonObject]) -> list[str]:
    """The `uri` of every public destination, in order."""
    return [
        str(item["uri"])
        for item in destinations
        if item.get("type") == "public" and isinstance(item.get("uri"), str)
    ]
