"""One application made ready for requests: its policies compiled and ordered, and the
locations (host pattern, path pattern, public overrides) it covers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from servicetokens.domain.enforcement.locations import HostPattern, PathPattern, split_location
from servicetokens.domain.enforcement.policies import (
    FIRST_DECISIONS,
    CompiledPolicy,
    compile_policy,
    order_policies,
)
from servicetokens.domain.enforcement.views import AppView, PolicyDecision

__all__ = ["CompiledApp", "Location", "compile_app", "locations_of"]


@dataclass(frozen=True, slots=True)
class Location:
    """One host (and path) an application covers, with the paths its destination makes
    public (`overrides` with `behavior: public`)."""

    source: str
    """The `uri` / domain as stored, for messages."""
    host: HostPattern
    path: PathPattern
    public: tuple[PathPattern, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledApp:
    """An application with its policies in evaluation order (§5.2)."""

    view: AppView
    first: tuple[CompiledPolicy, ...]
    """Service Auth and Bypass, by precedence."""
    then: tuple[CompiledPolicy, ...]
    """Allow and Block, by precedence."""
    has_allow: bool
    """Whether any policy is an Allow policy (an app JWT is then reusable, §5.4)."""


def compile_app(app: AppView) -> CompiledApp:
    """The application's policies compiled for its owner and split into the two groups."""
    first: list[CompiledPolicy] = []
    then: list[CompiledPolicy] = []
    for view in order_policies(app.policies):
        compiled = compile_policy(view, account_id=app.account_id, zone_id=app.zone_id)
        if compiled is not None:
            (first if compiled.decision in FIRST_DECISIONS else then).append(compiled)
    has_allow = any(p.decision is PolicyDecision.ALLOW for p in then)
    return CompiledApp(app, tuple(first), tuple(then), has_allow)


def _public_overrides(destination: Mapping[str, Any]) -> tuple[PathPattern, ...]:
    overrides = destination.get("overrides")
    if not isinstance(overrides, list | tuple):
        return ()
    found: list[PathPattern] = []
    for override in overrides:
        if not isinstance(override, Mapping) or override.get("behavior") != "public":
            continue
        pattern = override.get("path_pattern")
        if isinstance(pattern, str) and pattern.strip():
            found.append(PathPattern.parse(pattern, subpaths=False))
    return tuple(found)


def locations_of(app: AppView) -> tuple[list[Location], list[str]]:
    """The locations `app` covers (public `destinations` if any destination is stored, else
    `self_hosted_domains` if any, else `domain`), and the stored entries that cannot cover
    anything (an empty or malformed host), for the gate to report."""
    entries: list[tuple[str, tuple[PathPattern, ...]]] = []
    if app.destinations:
        for destination in app.destinations:
            uri = destination.get("uri")
            if destination.get("type") == "public" and isinstance(uri, str):
                entries.append((uri, _public_overrides(destination)))
    elif app.self_hosted_domains:
        entries = [(domain, ()) for domain in app.self_hosted_domains]
    else:
        entries = [(app.domain, ())]
    locations: list[Location] = []
    ignored: list[str] = []
    for source, public in entries:
        host_text, path_text = split_location(source)
        host = HostPattern.parse(host_text)
        if host is None:
            ignored.append(source)
            continue
        locations.append(Location(source, host, PathPattern.parse(path_text), public))
    return locations, ignored
