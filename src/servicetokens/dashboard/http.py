"""What every dashboard page shares: the visitor behind the session cookie, forms and their
CSRF token, and responses with the security headers.

Every HTML response carries `Cache-Control: no-store` (a secret page above all), a
`Content-Security-Policy` that allows scripts, styles and images from this origin only (no
inline script, no framing, forms posting only here), `X-Content-Type-Options: nosniff` and
`Referrer-Policy: same-origin` (nothing of a page's address leaves the site). Cookies are
`HttpOnly`, `SameSite=Lax`, and `Secure` when the request came over HTTPS.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from servicetokens.domain.network import TrustedProxies
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.sign_in import Visitor

__all__ = [
    "DEVICE_COOKIE",
    "PRE_SESSION_COOKIE",
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "Form",
    "FormRefused",
    "Page",
    "Seen",
    "cookie",
    "delete_cookie",
    "origin_of",
    "read_form",
    "redirect",
    "set_cookie",
]

SESSION_COOKIE = "st_session"
DEVICE_COOKIE = "st_device"
PRE_SESSION_COOKIE = "st_signin"
"""Holds the sign-in form's CSRF token (double submit) before there is a session."""
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 500

SECURITY_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class FormRefused(Exception):
    """A form that cannot be accepted: not a form, too large, or without the right CSRF
    token (answered 400 or 403, and nothing is changed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Form:
    """A posted form: the first value of each field."""

    fields: Mapping[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))


def origin_of(request: Request) -> str | None:
    """The caller's address for the audit log and throttling (behind trusted proxies)."""
    proxies: TrustedProxies = request.app.state.dashboard_proxies
    peer = request.client.host if request.client else None
    return proxies.resolve(peer, request.headers.getlist("x-forwarded-for")).client


def _https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    proxies: TrustedProxies = request.app.state.dashboard_proxies
    peer = request.client.host if request.client else None
    resolved = proxies.resolve(peer, ())
    return resolved.trusted_peer and request.headers.get("x-forwarded-proto") == "https"


def _cookie_name(request: Request, name: str) -> str:
    # Over HTTPS the `__Host-` prefix: a browser keeps such a cookie only if this host set it
    # `Secure`, for `/`, with no `Domain`, so a sibling subdomain or a plain-HTTP answer
    # cannot plant or shadow it (cookie tossing).
    return f"__Host-{name}" if _https(request) else name


def cookie(request: Request, name: str, default: str | None = None) -> str | None:
    """The value of one of the dashboard's cookies, under the name the scheme gives it."""
    return request.cookies.get(_cookie_name(request, name), default)


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int | None
) -> None:
    """Set an `HttpOnly`, `SameSite=Lax` cookie for the whole site (`Secure` and named with
    the `__Host-` prefix over HTTPS)."""
    https = _https(request)
    response.set_cookie(
        _cookie_name(request, name),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=https,
    )


def delete_cookie(request: Request, response: Response, name: str) -> None:
    """Tell the browser to drop one of the dashboard's cookies."""
    response.delete_cookie(
        _cookie_name(request, name), path="/", httponly=True, samesite="lax", secure=_https(request)
    )


def redirect(url: str) -> Response:
    """A 303 to `url` (a path of this site), with the security headers."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def _same_origin(request: Request) -> bool:
    # Browsers send Origin on POST: one naming another site is refused outright (the CSRF
    # token would refuse it too; this is a second, independent check).
    # ("null", sent under some referrer policies and from sandboxed documents, names no
    # site: the CSRF token alone decides then.)
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def read_form(request: Request, *, csrf_token: str) -> Form:
    """The posted url-encoded form, once its CSRF token is `csrf_token`."""
    if not _same_origin(request):
        raise FormRefused(403, "This form was sent from another site.")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormRefused(400, "Expected a form.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused(400, "The form is too large.")
    try:
        fields = parse_qs(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "The form could not be read.") from None
    if any("\0" in text for name, values in fields.items() for text in (name, *values)):
        # No field holds a NUL (PostgreSQL refuses one in text): refused here, as a page.
        raise FormRefused(400, "The form holds a character no field may contain.")
    form = Form(fields)
    sent = form.get("csrf_token")
    if not csrf_token or not hmac.compare_digest(sent.encode(), csrf_token.encode()):
        raise FormRefused(403, "The form has expired or did not come from this dashboard.")
    return form


@dataclass(frozen=True, slots=True)
class Seen:
    """One request of a signed-in visitor: who, and the session id (for one-time secrets)."""

    visitor: Visitor
    session_id: str


class Page:
    """Renders templates with the security headers and the visitor's context."""

    def __init__(self, templates: Environment, service: UseCases) -> None:
        self.templates = templates
        self.service = service

    def render(
        self,
        request: Request,
        template: str,
        *,
        seen: Seen | None = None,
        status: int = 200,
        **context: Any,
    ) -> Response:
        """The template as an HTML response."""
        account_id = request.path_params.get("account_id")
        html = self.templates.get_template(template).render(
            request=request,
            visitor=None if seen is None else seen.visitor,
            csrf_token=None if seen is None else seen.visitor.csrf_token,
            account_id=account_id,
            now=self.service.clock(),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    async def visitor(self, request: Request) -> Seen | None:
        """The signed-in visitor of this request, or None."""
        session_id = cookie(request, SESSION_COOKIE)
        if not session_id:
            return None
        visitor = await run_in_threadpool(
            self.service.people.resume, session_id, origin=origin_of(request)
        )
        return None if visitor is None else Seen(visitor, session_id)


def pre_session_token(request: Request) -> str:
    """The sign-in form's CSRF token: the one in the pre-session cookie, or a new one."""
    existing = cookie(request, PRE_SESSION_COOKIE, "") or ""
    return existing if 20 <= len(existing) <= 64 else secrets.token_urlsafe(24)


Handler = Callable[[Request, Seen], Awaitable[Response]]
