"""The service-token pages: list (search, pages), create, the secret shown once, detail with
its audit history, rotate (with a grace period), refresh, enable/disable, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servicetokens.dashboard.http import FormRefused, Handler, Page, Seen, read_form, redirect
from servicetokens.dashboard.views import (
    DURATION_PRESETS,
    GRACE_CHOICES,
    SHOW_CHOICES,
    SORT_CHOICES,
    badges,
    grace_delta,
    shown,
)
from servicetokens.domain.durations import DEFAULT_DURATION
from servicetokens.domain.errors import ServiceTokenInUse, ValidationError
from servicetokens.domain.fields import TokenFields, parse_token_fields
from servicetokens.domain.paging import parse_list_query
from servicetokens.domain.permissions import ContainerKind
from servicetokens.usecases.audit_reading import AuditFilter
from servicetokens.usecases.authorization import ContainerRef

__all__ = ["PAGES", "PER_PAGE_CHOICES"]

PER_PAGE_CHOICES = (25, 50, 100)
_SORTS = {f"{order}:{direction}" for order, direction, _ in SORT_CHOICES}
_DEFAULT_SORT = "created_at:asc"


def _ref(request: Request) -> ContainerRef:
    account_id: str = request.path_params["account_id"]
    return ContainerRef(ContainerKind.ACCOUNT, account_id, request.url.path)


def _base(request: Request) -> str:
    return f"/accounts/{request.path_params['account_id']}/tokens"


def list_page(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        params = request.query_params
        per_page = params.get("per_page", "50")
        show = params.get("show", "all") or "all"
        sort = params.get("sort", _DEFAULT_SORT) or _DEFAULT_SORT
        if sort not in _SORTS:
            raise FormRefused(400, "Choose a sort order from the list.")
        order, direction = sort.split(":")
        now = page.service.clock()
        query = shown(
            parse_list_query(
                name=None,
                search=params.get("search"),
                page=params.get("page"),
                per_page=per_page if per_page in {str(c) for c in PER_PAGE_CHOICES} else "50",
                order=order,
                direction=direction,
            ),
            show,
            now,
        )
        if query is None:
            raise FormRefused(400, "Choose which tokens to show from the list.")
        found = await run_in_threadpool(
            page.service.tokens.read_page, seen.visitor.principal, _ref(request), query
        )
        rows = [(token, badges(token, now)) for token in found.tokens]
        kept = {"per_page": str(query.per_page), "show": show, "sort": sort}
        if query.search:
            kept["search"] = query.search
        return page.render(
            request,
            "tokens.html",
            seen=seen,
            rows=rows,
            info=found.info,
            query=query,
            show=show,
            sort=sort,
            narrowed=show != "all" or query.search is not None,
            paging_base=f"{_base(request)}?{urlencode(kept)}",
            per_page_choices=PER_PAGE_CHOICES,
            show_choices=SHOW_CHOICES,
            sort_choices=[(f"{o}:{d}", label) for o, d, label in SORT_CHOICES],
        )

    return handler


def new_page(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        return _create_form(page, request, seen)

    return handler


def _create_form(
    page: Page, request: Request, seen: Seen, *, status: int = 200, **context: Any
) -> Response:
    context.setdefault("values", {"name": "", "duration": DEFAULT_DURATION, "custom": ""})
    context.setdefault("errors", {})
    return page.render(
        request, "token_new.html", seen=seen, status=status, presets=DURATION_PRESETS, **context
    )


def create(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        form = await read_form(request, csrf_token=seen.visitor.csrf_token)
        name, choice, custom = form.get("name"), form.get("duration"), form.get("custom_duration")
        duration = custom.strip() if choice == "custom" else choice
        values = {"name": name, "duration": choice, "custom": custom}
        errors: dict[str, str] = {}
        for field, body in (("name", {"name": name}), ("duration", {"duration": duration})):
            try:
                parse_token_fields(body, require_name=False)
            except ValidationError as exc:
                errors[field] = exc.detail
        if errors:
            return _create_form(page, request, seen, status=400, values=values, errors=errors)
        fields = TokenFields(name=name, duration=duration)
        token, secret = await run_in_threadpool(
            page.service.tokens.create, seen.visitor.principal, _ref(request), fields
        )
        await run_in_threadpool(page.service.people.hold_secret, seen.session_id, token.id, secret)
        return redirect(f"{_base(request)}/{token.id}/secret")

    return handler


def secret_page(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        token_id = request.path_params["token_id"]
        token = await run_in_threadpool(
            page.service.tokens.get, seen.visitor.principal, _ref(request), token_id
        )
        secret = None
        if request.method == "GET":  # a HEAD (a link checker, a proxy) must not use it up
            secret = await run_in_threadpool(
                page.service.people.take_secret, seen.session_id, token.id
            )
        return page.render(request, "secret.html", seen=seen, token=token, secret=secret)

    return handler


def detail(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        return await _detail(page, request, seen)

    return handler


async def _detail(
    page: Page, request: Request, seen: Seen, *, status: int = 200, error: str | None = None
) -> Response:
    principal = seen.visitor.principal
    token = await run_in_threadpool(
        page.service.tokens.get, principal, _ref(request), request.path_params["token_id"]
    )
    history = await run_in_threadpool(
        page.service.audit.entries,
        principal,
        token.container.account_id,
        AuditFilter(target=token.id, limit=50),
    )
    return page.render(
        request,
        "token.html",
        seen=seen,
        status=status,
        token=token,
        error=error,
        badges=badges(token, page.service.clock()),
        history=history,
        grace_choices=GRACE_CHOICES,
    )


def _action(run: Callable[[Page, Request, Seen, Any], Any]) -> Callable[[Page], Handler]:
    """A POST on one token: the form's CSRF token checked, then `run`; back to its page."""

    def factory(page: Page) -> Handler:
        async def handler(request: Request, seen: Seen) -> Response:
            form = await read_form(request, csrf_token=seen.visitor.csrf_token)
            result = await run(page, request, seen, form)
            if isinstance(result, Response):
                return result
            return redirect(f"{_base(request)}/{request.path_params['token_id']}")

        return handler

    return factory


async def _rotate(page: Page, request: Request, seen: Seen, form: Any) -> Response:
    delta = grace_delta(form.get("grace"))
    if delta is None:
        return await _detail(page, request, seen, status=400, error="Choose a grace period.")
    previous = page.service.clock() + delta if delta else None
    token_id = request.path_params["token_id"]
    token, secret = await run_in_threadpool(
        lambda: page.service.tokens.rotate(
            seen.visitor.principal, _ref(request), token_id, previous_expires_at=previous
        )
    )
    await run_in_threadpool(page.service.people.hold_secret, seen.session_id, token.id, secret)
    return redirect(f"{_base(request)}/{token.id}/secret")


async def _refresh(page: Page, request: Request, seen: Seen, form: Any) -> None:
    await run_in_threadpool(
        page.service.tokens.refresh,
        seen.visitor.principal,
        _ref(request),
        request.path_params["token_id"],
    )


def _enable(enabled: bool) -> Callable[[Page, Request, Seen, Any], Any]:
    async def run(page: Page, request: Request, seen: Seen, form: Any) -> None:
        await run_in_threadpool(
            page.service.tokens.update,
            seen.visitor.principal,
            _ref(request),
            request.path_params["token_id"],
            TokenFields(enabled=enabled),
        )

    return run


async def _delete(page: Page, request: Request, seen: Seen, form: Any) -> Response:
    try:
        await run_in_threadpool(
            page.service.tokens.delete,
            seen.visitor.principal,
            _ref(request),
            request.path_params["token_id"],
        )
    except ServiceTokenInUse:
        message = (
            "This token cannot be deleted: an Access policy still names it (code 12139). "
            "Remove it from the policy first."
        )
        return await _detail(page, request, seen, status=400, error=message)
    return redirect(_base(request))


def confirm_delete(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        token = await run_in_threadpool(
            page.service.tokens.get,
            seen.visitor.principal,
            _ref(request),
            request.path_params["token_id"],
        )
        return page.render(request, "token_delete.html", seen=seen, token=token)

    return handler


_ONE = "/accounts/{account_id}/tokens/{token_id}"

PAGES: tuple[tuple[str, list[str], Callable[[Page], Handler]], ...] = (
    ("/accounts/{account_id}/tokens", ["GET"], list_page),
    ("/accounts/{account_id}/tokens", ["POST"], create),
    ("/accounts/{account_id}/tokens/new", ["GET"], new_page),
    (_ONE, ["GET"], detail),
    (f"{_ONE}/secret", ["GET"], secret_page),
    (f"{_ONE}/rotate", ["POST"], _action(_rotate)),
    (f"{_ONE}/refresh", ["POST"], _action(_refresh)),
    (f"{_ONE}/enable", ["POST"], _action(_enable(True))),
    (f"{_ONE}/disable", ["POST"], _action(_enable(False))),
    (f"{_ONE}/delete", ["GET"], confirm_delete),
    (f"{_ONE}/delete", ["POST"], _action(_delete)),
)
"""(path, methods, handler factory), most specific first."""
