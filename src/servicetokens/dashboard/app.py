"""`mount_dashboard`: the dashboard's pages, added to the app `servicetokens serve` runs.

The pages are plain routes beside the API's (never a mount at `/`), so every path under
`/client/v4` keeps the API's answers, its 404/7000 and 405 included; a path that is neither
the API's nor a page gets an HTML 404 page.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from servicetokens.dashboard import access, alerts, audit, sessions, tokens
from servicetokens.dashboard.http import SECURITY_HEADERS, FormRefused, Handler, Page
from servicetokens.dashboard.views import ago, shown_time
from servicetokens.domain.errors import (
    DomainError,
    InvalidIdentifier,
    NotFound,
    PermissionDenied,
)
from servicetokens.domain.network import TrustedProxies
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases

__all__ = ["API_PATHS", "mount_dashboard"]

API_PATHS = ("/client/v4", "/cdn-cgi/")
"""Paths the dashboard never answers, not even with its 404."""

_STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("servicetokens.dashboard", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ts"] = shown_time
    env.filters["ago"] = ago
    env.filters["urlquote"] = lambda text: quote(str(text), safe="")
    return env


def signed_in(page: Page, handler: Handler) -> Callable[[Request], Any]:
    """The endpoint for `handler`: a visitor without a live session is sent to sign in (a
    POST is refused); domain errors become pages, a foreign or unknown account a 404."""

    async def endpoint(request: Request) -> Response:
        seen = await page.visitor(request)
        if seen is None:
            if request.method == "GET":
                from servicetokens.dashboard.http import redirect

                return redirect(f"/sign-in?next={quote(request.url.path, safe='/')}")
            return page.render(
                request,
                "error.html",
                status=403,
                title="Signed out",
                message="Your session has ended. Sign in again.",
            )
        try:
            if any("\0" in k or "\0" in v for k, v in request.query_params.multi_items()):
                raise FormRefused(400, "The address holds a character no field may contain.")
            account_id = request.path_params.get("account_id")
            if account_id is not None:
                # Before anything the request asks: a stranger's account is a 404 whatever
                # the form says, as the API checks permission before validation.
                ref = ContainerRef(ContainerKind.ACCOUNT, account_id, request.url.path)
                await run_in_threadpool(
                    page.service.authorization.require,
                    seen.visitor.principal,
                    ref,
                    Permission.READ,
                )
            return await handler(request, seen)
        except FormRefused as exc:
            return page.render(
                request,
                "error.html",
                seen=seen,
                status=exc.status,
                title="Refused",
                message=exc.message,
            )
        except (NotFound, PermissionDenied, InvalidIdentifier):
            # A foreign account is answered exactly like one that does not exist.
            return page.render(
                request,
                "error.html",
                seen=seen,
                status=404,
                title="Not found",
                message="There is nothing here, or it is not yours to see.",
            )
        except DomainError as exc:
            return page.render(
                request,
                "error.html",
                seen=seen,
                status=exc.status,
                title="Refused",
                message=exc.message,
            )

    return endpoint


class _NotFoundPage(BaseRoute):
    """The last route: an HTML 404 for any path that is not the API's."""

    def __init__(self, page: Page) -> None:
        self._page = page

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and not path.startswith(API_PATHS):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        from starlette.routing import NoMatchFound

        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        seen = await self._page.visitor(request)
        response = self._page.render(
            request,
            "error.html",
            seen=seen,
            status=404,
            title="Not found",
            message="There is no page at this address.",
        )
        await response(scope, receive, send)


def _static_route() -> Route:
    files = {
        name: resources.files("servicetokens.dashboard").joinpath("static", name).read_bytes()
        for name in _STATIC
    }

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            return Response(b"", status_code=404, headers=SECURITY_HEADERS)
        return Response(
            files[name],
            media_type=_STATIC[name],
            headers={"cache-control": "public, max-age=3600", "x-content-type-options": "nosniff"},
        )

    return Route("/static/{name}", static, methods=["GET"])


def mount_dashboard(
    app: Starlette, service: UseCases, *, trusted_proxies: TrustedProxies | None = None
) -> None:
    """Add the dashboard's pages to `app` (the management API's app)."""
    page = Page(_templates(), service)
    app.state.dashboard_proxies = trusted_proxies or TrustedProxies()
    routes: list[BaseRoute] = [_static_route()]
    routes += sessions.routes(page)
    for module in (tokens, audit, access, alerts):
        routes += [
            Route(path, signed_in(page, handler(page)), methods=methods)
            for path, methods, handler in module.PAGES
        ]
    routes.append(_NotFoundPage(page))
    app.router.routes.extend(routes)
