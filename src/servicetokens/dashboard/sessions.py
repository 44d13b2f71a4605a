"""Signing in and out, and `/` (the visitor's first account, or the sign-in page)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from servicetokens.dashboard.http import (
    DEVICE_COOKIE,
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    FormRefused,
    Page,
    cookie,
    delete_cookie,
    origin_of,
    pre_session_token,
    read_form,
    redirect,
    set_cookie,
)
from servicetokens.domain.sign_in import DEVICE_REMEMBERED
from servicetokens.usecases.sign_in import SignInRefused

__all__ = ["routes", "safe_next"]

_DEVICE_MAX_AGE = int(DEVICE_REMEMBERED.total_seconds())


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this site, never another site."""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and len(target) < 512:
        return target
    return "/"


def routes(page: Page) -> list[BaseRoute]:
    """The routes of `/`, `/sign-in` and `/sign-out`."""

    def sign_in_form(
        request: Request,
        *,
        token: str,
        status: int = 200,
        error: str | None = None,
        email: str = "",
        retry_after: int | None = None,
    ) -> Response:
        response = page.render(
            request,
            "sign_in.html",
            status=status,
            signin_token=token,
            error=error,
            email=email,
            next=safe_next(request.query_params.get("next", "/")),
        )
        if retry_after is not None:
            response.headers["retry-after"] = str(retry_after)
        set_cookie(request, response, PRE_SESSION_COOKIE, token, max_age=3600)
        return response

    async def home(request: Request) -> Response:
        seen = await page.visitor(request)
        if seen is None:
            return redirect("/sign-in")
        accounts = seen.visitor.account_ids
        if not accounts:
            return page.render(request, "no_accounts.html", seen=seen)
        return redirect(f"/accounts/{accounts[0]}/tokens")

    async def show_sign_in(request: Request) -> Response:
        return sign_in_form(request, token=pre_session_token(request))

    async def sign_in(request: Request) -> Response:
        expected = cookie(request, PRE_SESSION_COOKIE, "") or ""
        try:
            form = await read_form(request, csrf_token=expected)
        except FormRefused as exc:
            return sign_in_form(
                request, token=pre_session_token(request), status=exc.status, error=exc.message
            )
        email, password = form.get("email"), form.get("password")
        try:
            signed = await run_in_threadpool(
                page.service.people.sign_in,
                email,
                password,
                origin=origin_of(request),
                device=cookie(request, DEVICE_COOKIE),
            )
        except SignInRefused as exc:
            status = 401 if exc.retry_after is None else 429
            return sign_in_form(
                request,
                token=expected,
                status=status,
                error=exc.message,
                email=email,
                retry_after=exc.retry_after,
            )
        # Signing in again in a browser that holds a session ends that one: one browser, one
        # session, and a cookie planted before sign-in (fixation) never outlives it.
        await run_in_threadpool(
            page.service.people.sign_out,
            cookie(request, SESSION_COOKIE),
            origin=origin_of(request),
        )
        response = redirect(safe_next(form.get("next", "/")))
        set_cookie(
            request,
            response,
            SESSION_COOKIE,
            signed.session_id,
            max_age=int(page.service.people.lifetime.total_seconds()),
        )
        set_cookie(request, response, DEVICE_COOKIE, signed.device, max_age=_DEVICE_MAX_AGE)
        delete_cookie(request, response, PRE_SESSION_COOKIE)
        return response

    async def sign_out(request: Request) -> Response:
        seen = await page.visitor(request)
        if seen is not None:
            await read_form(request, csrf_token=seen.visitor.csrf_token)
            await run_in_threadpool(
                page.service.people.sign_out, seen.session_id, origin=origin_of(request)
            )
        response = redirect("/sign-in")
        delete_cookie(request, response, SESSION_COOKIE)
        return response

    async def guarded_sign_out(request: Request) -> Response:
        try:
            return await sign_out(request)
        except FormRefused as exc:
            return page.render(
                request, "error.html", status=exc.status, title="Refused", message=exc.message
            )

    return [
        Route("/", home, methods=["GET"]),
        Route("/sign-in", show_sign_in, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-out", guarded_sign_out, methods=["POST"]),
    ]
