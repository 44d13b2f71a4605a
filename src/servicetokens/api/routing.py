"""Route order and the `Allow` table, both read from the routes themselves.

Starlette takes the first route whose pattern matches, so a parametrised segment
(`{service_token_id}`) registered before a static sibling (`expiring`) would answer for it.
`by_specificity` orders a router's routes so that, segment by segment, a static segment
comes before a parameter; `allowed_methods` answers a 405's `Allow` from the app's routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

__all__ = ["RouteTemplates", "allowed_methods", "by_specificity", "specificity"]

T = TypeVar("T")


def specificity(path: str) -> tuple[int, ...]:
    """A sort key for a route path: per segment 0 when static, 1 for a parameter, 2 for a
    `{…:path}` parameter (which can swallow several segments)."""
    key = []
    for segment in path.strip("/").split("/"):
        if "{" not in segment:
            key.append(0)
        else:
            key.append(2 if ":path}" in segment else 1)
    return tuple(key)


def by_specificity(items: Iterable[T], path: Callable[[T], str]) -> list[T]:
    """`items` ordered by `specificity(path(item))`, so static segments win over parameters;
    items whose paths tie keep their order (the sort is stable)."""
    return sorted(items, key=lambda item: specificity(path(item)))


def allowed_methods(app: FastAPI, path: str) -> set[str]:
    """Every method some route of `app` serves at `path` (each method is a route of its own).

    Read from `app.routes` when asked (a 405 is rare and the walk is a few regex matches),
    so a route added anywhere is in the table without a second list to keep in step.
    """
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        if route.path is None or not route.methods:
            continue
        pattern = getattr(route, "path_regex", None) or compile_path(route.path)[0]
        if pattern.match(path):
            methods |= route.methods
    return methods


class RouteTemplates:
    """The path template (`/client/v4/accounts/{account_id}/...`) of the route a request
    matched, as the metrics and the request log name it: never the path the client sent.

    Starlette leaves the matched route in the scope; a router included under a prefix
    keeps its routes as written, so the prefixed template is looked up among the app's
    route contexts (read once, on the first request, when every router is included)."""

    def __init__(self) -> None:
        self._paths: dict[int, list[tuple[Any, str]]] | None = None

    def of(self, scope: dict[str, Any]) -> str | None:
        """The template of the route `scope` matched; None when none did."""
        route = scope.get("route")
        if route is None:
            return None
        if self._paths is None:
            paths: dict[int, list[tuple[Any, str]]] = {}
            for context in iter_route_contexts(scope["app"].routes):
                if context.path is not None:
                    pattern = getattr(context, "path_regex", None)
                    paths.setdefault(id(context.original_route), []).append((pattern, context.path))
            self._paths = paths
        found = self._paths.get(id(route))
        if not found:
            return getattr(route, "path", None)
        if len(found) == 1:
            return found[0][1]
        for pattern, path in found:  # one route under several prefixes
            if pattern is not None and pattern.match(scope["path"]):
                return path
        return found[0][1]
