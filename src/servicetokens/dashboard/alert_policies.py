"""Alert policies' pages: list, create, edit, delete, for the service-token alert types
(webhook destinations chosen from the account's; the tokens a policy covers chosen from
the account's, none meaning every token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servicetokens.dashboard.http import Form, Handler, Page, Seen, read_form, redirect
from servicetokens.dashboard.policies import account_ref
from servicetokens.domain.errors import DomainError
from servicetokens.domain.notifications.alert_types import CATALOGUE
from servicetokens.domain.notifications.errors import (
    InvalidAlertRequest,
    InvalidWebhookId,
    LimitReached,
    NoMechanism,
    NotEntitled,
    UnknownAlertType,
)
from servicetokens.domain.notifications.policies import NotificationPolicy
from servicetokens.domain.paging import ListQuery

__all__ = ["ALERT_TYPES", "PAGES", "policy_field", "policy_form_body"]

ALERT_TYPES: tuple[tuple[str, str, str], ...] = tuple(
    (str(entry["type"]), str(entry["display_name"]), str(entry["description"]))
    for entries in CATALOGUE.values()
    for entry in entries
)
"""(alert type, its name, what it says) of every served type, for the policy form."""

_TOKEN_CHOICES = ListQuery(page=1, per_page=200)
_REFUSED = (
    InvalidAlertRequest,
    InvalidWebhookId,
    LimitReached,
    NoMechanism,
    NotEntitled,
    UnknownAlertType,
)


def policy_field(exc: DomainError) -> str:
    """The policy form's field an error concerns (`form` for none in particular)."""
    if isinstance(exc, NoMechanism | InvalidWebhookId):
        return "webhooks"
    if isinstance(exc, UnknownAlertType | NotEntitled):
        return "alert_type"
    if isinstance(exc, InvalidAlertRequest):
        for prefix, field in (
            ("name", "name"),
            ("alert_type", "alert_type"),
            ("description", "description"),
            ("mechanisms", "webhooks"),
            ("invalid Webhook", "webhooks"),
            ("filter", "tokens"),
        ):
            if exc.detail.startswith(prefix):
                return field
    return "form"


def policy_form_body(form: Form, *, kept_emails: tuple[str, ...] = ()) -> dict[str, object]:
    """A policy's API body from the form: the chosen webhooks (with the email mechanisms
    the API stored, which this form neither shows for editing nor drops), and a token
    filter when any token is chosen."""
    mechanisms: dict[str, object] = {"webhooks": [{"id": w} for w in form.all("webhook")]}
    if kept_emails:
        mechanisms["email"] = [{"id": address} for address in kept_emails]
    tokens = form.all("token")
    return {
        "name": form.get("name"),
        "alert_type": form.get("alert_type"),
        "enabled": form.get("enabled") == "on",
        "description": form.get("description") or None,
        "mechanisms": mechanisms,
        "filters": {"token_id": tokens} if tokens else None,
    }


def _values(policy: NotificationPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {
            "name": "",
            "alert_type": ALERT_TYPES[0][0],
            "enabled": True,
            "description": "",
            "webhooks": [],
            "tokens": [],
        }
    fields = policy.fields
    return {
        "name": fields.name,
        "alert_type": fields.alert_type,
        "enabled": fields.enabled,
        "description": fields.description or "",
        "webhooks": list(fields.webhooks),
        "tokens": sorted(fields.token_ids or ()),
    }


def _base(request: Request) -> str:
    return f"/accounts/{request.path_params['account_id']}/notifications/policies"


async def _form(
    page: Page,
    request: Request,
    seen: Seen,
    *,
    values: dict[str, Any],
    policy_id: str | None,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    principal, ref = seen.visitor.principal, account_ref(request)
    webhooks = await run_in_threadpool(page.service.webhooks.of_account, principal, ref)
    found = await run_in_threadpool(page.service.tokens.read_page, principal, ref, _TOKEN_CHOICES)
    return page.render(
        request,
        "alert_policy_form.html",
        seen=seen,
        status=status,
        values=values,
        errors=errors or {},
        policy_id=policy_id,
        alert_types=ALERT_TYPES,
        webhooks=webhooks,
        tokens=found.tokens,
    )


def _list(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        principal, ref = seen.visitor.principal, account_ref(request)
        policies = await run_in_threadpool(
            page.service.notification_policies.of_account, principal, ref
        )
        webhooks = await run_in_threadpool(page.service.webhooks.of_account, principal, ref)
        return page.render(
            request,
            "alert_policies.html",
            seen=seen,
            policies=policies,
            type_names={kind: name for kind, name, _ in ALERT_TYPES},
            webhook_names={w.id: w.name for w in webhooks},
        )

    return handler


def _new(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        return await _form(page, request, seen, values=_values(None), policy_id=None)

    return handler


def _edit(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        policy = await run_in_threadpool(
            page.service.notification_policies.get,
            seen.visitor.principal,
            account_ref(request),
            request.path_params["policy_id"],
        )
        return await _form(page, request, seen, values=_values(policy), policy_id=policy.id)

    return handler


def _save(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        form = await read_form(request, csrf_token=seen.visitor.csrf_token)
        principal, ref = seen.visitor.principal, account_ref(request)
        policy_id = request.path_params.get("policy_id")
        policies = page.service.notification_policies
        try:
            if policy_id is None:
                body = policy_form_body(form)
                await run_in_threadpool(policies.create, principal, ref, body)
            else:
                stored = await run_in_threadpool(policies.get, principal, ref, policy_id)
                body = policy_form_body(form, kept_emails=stored.fields.emails)
                await run_in_threadpool(policies.update, principal, ref, policy_id, body)
        except _REFUSED as exc:
            values = {
                "name": form.get("name"),
                "alert_type": form.get("alert_type"),
                "enabled": form.get("enabled") == "on",
                "description": form.get("description"),
                "webhooks": form.all("webhook"),
                "tokens": form.all("token"),
            }
            return await _form(
                page,
                request,
                seen,
                values=values,
                policy_id=policy_id,
                status=exc.status,
                errors={policy_field(exc): exc.message},
            )
        return redirect(_base(request))

    return handler


def _delete(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        await read_form(request, csrf_token=seen.visitor.csrf_token)
        await run_in_threadpool(
            page.service.notification_policies.delete,
            seen.visitor.principal,
            account_ref(request),
            request.path_params["policy_id"],
        )
        return redirect(_base(request))

    return handler


_P = "/accounts/{account_id}/notifications/policies"

PAGES: tuple[tuple[str, list[str], Callable[[Page], Handler]], ...] = (
    (_P, ["GET"], _list),
    (_P, ["POST"], _save),
    (f"{_P}/new", ["GET"], _new),
    (_P + "/{policy_id}", ["GET"], _edit),
    (_P + "/{policy_id}", ["POST"], _save),
    (_P + "/{policy_id}/delete", ["POST"], _delete),
)
"""(path, methods, handler factory), most specific first."""
