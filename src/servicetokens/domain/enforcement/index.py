"""Finding the application a request is for, without scanning all of them (spec §5.1).

`compile_apps` files every location of every application once:

- exact hosts in a dict by host; wildcard hosts in a dict by (label count, the labels after
  the last wildcard label), so a request host is looked up under at most one key per label;
- under each host, path patterns in a dict by the longest segment prefix every path they
  cover starts with, so a request path is looked up under one key per segment.

An index built with `reuse=` the previous one takes each application's compiled policies
from it when the application's view is unchanged (equal), so a reload compiles only what
changed.

Only the few routes found that way are tested, each bucket in specificity order. The most
specific route wins and nothing is inherited from broader ones: an exact host beats any
wildcard host; then a longer literal path prefix (before any `*`) wins; then fewer
wildcards; then more literal host characters; then the application id and the pattern, so
the answer never depends on the order applications were listed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from servicetokens.domain.enforcement.apps import CompiledApp, Location, compile_app, locations_of
from servicetokens.domain.enforcement.locations import (
    host_labels,
    normalize_host,
    normalize_path,
    path_keys,
)
from servicetokens.domain.enforcement.views import AppView

__all__ = ["AppIndex", "Match", "Route", "compile_apps", "specificity"]


@dataclass(frozen=True, slots=True)
class Route:
    """One location of one application, with its rank among all routes (lower wins)."""

    app: CompiledApp
    location: Location
    rank: int


@dataclass(frozen=True, slots=True)
class Match:
    """The application a request is for, and whether one of its destination's public
    overrides covers the path (then it is admitted without Access, like Bypass)."""

    compiled: CompiledApp
    location: Location
    public: bool

    @property
    def app(self) -> AppView:
        """The matched application."""
        return self.compiled.view


def specificity(app_id: str, location: Location) -> tuple[bool, int, int, int, str, str]:
    """The sort key of a route: smaller is more specific (see the module docstring)."""
    host, path = location.host, location.path
    return (
        host.regex is not None,
        -path.literal_length,
        host.wildcards + path.wildcards,
        -host.literal_length,
        app_id,
        location.source,
    )


_Bucket = dict[str, tuple[Route, ...]]


def _best(bucket: _Bucket | None, host: str | None, path: str, keys: list[str]) -> Route | None:
    """The best-ranked route of `bucket` covering `path` (and `host`, for wildcard buckets,
    whose routes share a key but not a pattern; None for an exact host's bucket)."""
    if bucket is None:
        return None
    best: Route | None = None
    for key in keys:
        for route in bucket.get(key, ()):
            if best is not None and route.rank >= best.rank:
                break  # the bucket is in rank order: nothing further can win
            location = route.location
            if location.path.covers(path) and (host is None or location.host.covers(host)):
                best = route
                break
    return best


class AppIndex:
    """Every application of an account, filed for lookup by host and path."""

    compiled: dict[str, CompiledApp]
    """Application id → its compiled form (what a later index may reuse)."""

    def __init__(self, apps: Iterable[AppView], reuse: AppIndex | None = None) -> None:
        """Compile and file `apps` (see `compile_apps`), taking from `reuse` the compiled
        form of every application whose view it holds unchanged."""
        routes: list[tuple[tuple[bool, int, int, int, str, str], CompiledApp, Location]] = []
        ignored: list[tuple[str, str]] = []
        earlier: dict[str, CompiledApp] = {} if reuse is None else reuse.compiled
        compiled_apps: dict[str, CompiledApp] = {}
        count = reused = 0
        for view in apps:
            count += 1
            before = earlier.get(view.id)
            if before is not None and before.view == view:
                compiled, reused = before, reused + 1
            else:
                compiled = compile_app(view)
            compiled_apps[view.id] = compiled
            locations, bad = locations_of(view)
            ignored.extend((view.id, source) for source in bad)
            routes.extend((specificity(view.id, loc), compiled, loc) for loc in locations)
        routes.sort(key=lambda item: item[0])
        exact: defaultdict[str, defaultdict[str, list[Route]]] = defaultdict(
            lambda: defaultdict(list)
        )
        wild: defaultdict[tuple[int, str], defaultdict[str, list[Route]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for rank, (_, compiled, location) in enumerate(routes):
            route = Route(compiled, location, rank)
            host = location.host
            table = exact[host.text] if host.regex is None else wild[host.index_key()]
            table[location.path.index_key()].append(route)
        self._exact: dict[str, _Bucket] = {
            h: {k: tuple(v) for k, v in t.items()} for h, t in exact.items()
        }
        self._wild: dict[tuple[int, str], _Bucket] = {
            h: {k: tuple(v) for k, v in t.items()} for h, t in wild.items()
        }
        self.app_count = count
        self.compiled = compiled_apps
        self.reused = reused
        """How many applications were taken unchanged from the index reused."""
        self.route_count = len(routes)
        self.ignored: tuple[tuple[str, str], ...] = tuple(ignored)
        """(application id, stored location) pairs that cannot cover any request."""

    def lookup(self, host: str, path: str) -> Match | None:
        """The most specific application covering `host` (port allowed) and `path` (query
        allowed), or None: the request is then refused (fail closed, §6.3)."""
        name = normalize_host(host)
        if name is None:
            return None
        path = normalize_path(path)
        keys = path_keys(path)
        route = _best(self._exact.get(name), None, path, keys)
        if route is None and self._wild:
            labels = host_labels(name)
            count = len(labels)
            for i in range(count):
                bucket = self._wild.get((count, ".".join(labels[i + 1 :])))
                found = _best(bucket, name, path, keys)
                if found is not None and (route is None or found.rank < route.rank):
                    route = found
        if route is None:
            return None
        location = route.location
        public = bool(location.public) and any(p.covers(path) for p in location.public)
        return Match(route.app, location, public)

    def match(self, host: str, path: str) -> AppView | None:
        """The application `lookup` finds, if any."""
        found = self.lookup(host, path)
        return None if found is None else found.app


def compile_apps(apps: Iterable[AppView], reuse: AppIndex | None = None) -> AppIndex:
    """An index of `apps` for `AppIndex.lookup` / `AppIndex.match`, compiling only the
    applications `reuse` (an earlier index) does not hold unchanged."""
    return AppIndex(apps, reuse)
