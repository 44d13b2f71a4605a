"""Access pages: self-hosted applications (list, create, edit, delete), deleting a policy
or an application, the account's organization (read-only), and every Access route (the
policies' handlers are in `policies.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servicetokens.dashboard.http import Handler, Page, Seen, read_form, redirect
from servicetokens.dashboard.policies import (
    LIST_ALL,
    account_ref,
    policies_list,
    policy_edit,
    policy_new,
    policy_save,
)
from servicetokens.domain.access.listing import AppFilter
from servicetokens.domain.errors import Conflict, DomainError, NotFound, ValidationError
from servicetokens.domain.paging import ListQuery

__all__ = ["PAGES"]

_LIST = ListQuery(page=1, per_page=1000)


def _apps_list(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        found = await run_in_threadpool(
            page.service.applications.read_page,
            seen.visitor.principal,
            account_ref(request),
            AppFilter(),
            LIST_ALL,
        )
        return page.render(request, "apps.html", seen=seen, apps=found.apps)

    return handler


async def _app_form(
    page: Page,
    request: Request,
    seen: Seen,
    *,
    values: dict[str, Any],
    app_id: str | None,
    status: int = 200,
    error: str | None = None,
) -> Response:
    found = await run_in_threadpool(
        page.service.policies.read_page, seen.visitor.principal, account_ref(request), _LIST
    )
    return page.render(
        request,
        "app_form.html",
        seen=seen,
        status=status,
        values=values,
        error=error,
        app_id=app_id,
        policies=found.policies,
    )


def _app_new(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        values = {"name": "", "domain": "", "policies": []}
        return await _app_form(page, request, seen, values=values, app_id=None)

    return handler


def _app_edit(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        found = await run_in_threadpool(
            page.service.applications.get,
            seen.visitor.principal,
            account_ref(request),
            request.path_params["app_id"],
        )
        body = found.app.fields.body
        values = {
            "name": body.get("name", ""),
            "domain": body.get("domain", ""),
            "policies": [linked.policy.id for linked in found.policies],
        }
        return await _app_form(page, request, seen, values=values, app_id=found.app.id)

    return handler


def _app_save(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        form = await read_form(request, csrf_token=seen.visitor.csrf_token)
        app_id = request.path_params.get("app_id")
        body: dict[str, object] = {
            "type": "self_hosted",
            "domain": form.get("domain").strip(),
            "policies": form.all("policy"),
        }
        if form.get("name").strip():
            body["name"] = form.get("name").strip()
        try:
            if app_id is None:
                await run_in_threadpool(
                    page.service.applications.create,
                    seen.visitor.principal,
                    account_ref(request),
                    body,
                )
            else:
                await run_in_threadpool(
                    page.service.applications.update,
                    seen.visitor.principal,
                    account_ref(request),
                    app_id,
                    body,
                )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            values = {
                "name": form.get("name"),
                "domain": form.get("domain"),
                "policies": form.all("policy"),
            }
            return await _app_form(
                page,
                request,
                seen,
                values=values,
                app_id=app_id,
                status=exc.status,
                error=exc.message,
            )
        return redirect(f"/accounts/{request.path_params['account_id']}/apps")

    return handler


def _delete(kind: str) -> Callable[[Page], Handler]:
    """Delete a policy or an application after the confirmation form."""

    def factory(page: Page) -> Handler:
        async def handler(request: Request, seen: Seen) -> Response:
            form = await read_form(request, csrf_token=seen.visitor.csrf_token)
            if form.get("confirm") != "yes":
                raise ValidationError("tick the box to confirm the deletion")
            account = request.path_params["account_id"]
            if kind == "policies":
                call: Any = page.service.policies.delete
                object_id = request.path_params["policy_id"]
            else:
                call = page.service.applications.delete
                object_id = request.path_params["app_id"]
            try:
                await run_in_threadpool(
                    call, seen.visitor.principal, account_ref(request), object_id
                )
            except Conflict as exc:
                return page.render(
                    request,
                    "error.html",
                    seen=seen,
                    status=exc.status,
                    title="Not deleted",
                    message=exc.message,
                )
            return redirect(f"/accounts/{account}/{kind}")

        return handler

    return factory


def _organization(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        try:
            org = await run_in_threadpool(
                page.service.organizations.get, seen.visitor.principal, account_ref(request)
            )
        except NotFound:
            org = None
        body = None if org is None else json.dumps(org.body, indent=2, sort_keys=True)
        return page.render(request, "organization.html", seen=seen, body=body)

    return handler


_P = "/accounts/{account_id}/policies"
_A = "/accounts/{account_id}/apps"

PAGES: tuple[tuple[str, list[str], Callable[[Page], Handler]], ...] = (
    (_P, ["GET"], policies_list),
    (_P, ["POST"], policy_save),
    (f"{_P}/new", ["GET"], policy_new),
    (f"{_P}/{{policy_id}}", ["GET"], policy_edit),
    (f"{_P}/{{policy_id}}", ["POST"], policy_save),
    (f"{_P}/{{policy_id}}/delete", ["POST"], _delete("policies")),
    (_A, ["GET"], _apps_list),
    (_A, ["POST"], _app_save),
    (f"{_A}/new", ["GET"], _app_new),
    (f"{_A}/{{app_id}}", ["GET"], _app_edit),
    (f"{_A}/{{app_id}}", ["POST"], _app_save),
    (f"{_A}/{{app_id}}/delete", ["POST"], _delete("apps")),
    ("/accounts/{account_id}/organization", ["GET"], _organization),
)
