"""Notification pages: webhook destinations (list, create, test, delete; the secret is
entered once and never shown back) and the delivery history (read-only). The alert
policies' pages are in `alert_policies.py`; `PAGES` holds every notification route."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servicetokens.dashboard import alert_policies
from servicetokens.dashboard.http import Handler, Page, Seen, read_form, redirect
from servicetokens.dashboard.policies import account_ref
from servicetokens.domain.errors import DomainError
from servicetokens.domain.notifications.errors import (
    InvalidAlertRequest,
    InvalidWebhookUrl,
    LimitReached,
    UnsupportedWebhookType,
    WebhookTestFailed,
)
from servicetokens.domain.notifications.history import parse_history_query
from servicetokens.webhooks.sender import SendResult

__all__ = ["PAGES", "test_outcome", "webhook_field"]

_WEBHOOK_FIELDS = ("name", "url", "secret")


def webhook_field(exc: DomainError) -> str:
    """The destination form's field an error concerns (`form` for none in particular)."""
    if isinstance(exc, InvalidWebhookUrl | UnsupportedWebhookType | WebhookTestFailed):
        return "url"
    if isinstance(exc, InvalidAlertRequest):
        for field in _WEBHOOK_FIELDS:
            if exc.detail.startswith(field):
                return field
    return "form"


def test_outcome(result: SendResult) -> tuple[bool, str]:
    """(delivered, what a person reads) for one test message."""
    if result.refused is not None:
        return False, f"Not sent: the address is refused ({result.refused})."
    if result.status is None:
        return False, f"No answer: {result.error or 'the destination did not respond'}."
    if 200 <= result.status < 300:
        return True, f"Delivered: the destination answered {result.status}."
    return False, f"Refused: the destination answered {result.status}."


def _base(request: Request) -> str:
    return f"/accounts/{request.path_params['account_id']}/notifications"


async def _webhooks_page(
    page: Page,
    request: Request,
    seen: Seen,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    outcome: tuple[bool, str] | None = None,
) -> Response:
    webhooks = await run_in_threadpool(
        page.service.webhooks.of_account, seen.visitor.principal, account_ref(request)
    )
    return page.render(
        request,
        "webhooks.html",
        seen=seen,
        status=status,
        webhooks=webhooks,
        values=values or {"name": "", "url": ""},
        errors=errors or {},
        outcome=outcome,
        created=request.query_params.get("created"),
    )


def _webhooks_list(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        return await _webhooks_page(page, request, seen)

    return handler


def _webhook_create(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        form = await read_form(request, csrf_token=seen.visitor.csrf_token)
        body: dict[str, object] = {"name": form.get("name"), "url": form.get("url").strip()}
        if form.get("secret"):
            body["secret"] = form.get("secret")
        try:
            await run_in_threadpool(
                page.service.webhooks.create, seen.visitor.principal, account_ref(request), body
            )
        except (
            InvalidAlertRequest,
            InvalidWebhookUrl,
            UnsupportedWebhookType,
            WebhookTestFailed,
            LimitReached,
        ) as exc:
            errors = {webhook_field(exc): exc.message}
        else:
            return redirect(f"{_base(request)}/webhooks?created=1")
        # The secret is never put back into the form: it is typed again.
        values = {"name": form.get("name"), "url": form.get("url")}
        return await _webhooks_page(page, request, seen, status=400, values=values, errors=errors)

    return handler


def _webhook_test(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        await read_form(request, csrf_token=seen.visitor.csrf_token)
        webhook, result = await run_in_threadpool(
            page.service.webhooks.test_stored,
            seen.visitor.principal,
            account_ref(request),
            request.path_params["webhook_id"],
        )
        delivered, text = test_outcome(result)
        return await _webhooks_page(
            page, request, seen, outcome=(delivered, f"Test message to “{webhook.name}”: {text}")
        )

    return handler


def _webhook_delete(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        await read_form(request, csrf_token=seen.visitor.csrf_token)
        await run_in_threadpool(
            page.service.webhooks.delete,
            seen.visitor.principal,
            account_ref(request),
            request.path_params["webhook_id"],
        )
        return redirect(f"{_base(request)}/webhooks")

    return handler


def _history(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        params = request.query_params
        query = parse_history_query(
            since=None,
            before=None,
            page=params.get("page"),
            per_page="25",
            status=params.get("status"),
        )
        found = await run_in_threadpool(
            page.service.notification_policies.history,
            seen.visitor.principal,
            account_ref(request),
            query,
        )
        return page.render(
            request,
            "alert_history.html",
            seen=seen,
            deliveries=found.deliveries,
            info=found.info,
            query=query,
        )

    return handler


_N = "/accounts/{account_id}/notifications"
_W = _N + "/webhooks/{webhook_id}"

PAGES: tuple[tuple[str, list[str], Callable[[Page], Handler]], ...] = (
    (f"{_N}/webhooks", ["GET"], _webhooks_list),
    (f"{_N}/webhooks", ["POST"], _webhook_create),
    (f"{_W}/test", ["POST"], _webhook_test),
    (f"{_W}/delete", ["POST"], _webhook_delete),
    (f"{_N}/history", ["GET"], _history),
    *alert_policies.PAGES,
)
"""(path, methods, handler factory) of the notification pages."""
