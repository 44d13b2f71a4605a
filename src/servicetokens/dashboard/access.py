"""Access pages: reusable policies and self-hosted applications (list, create, edit,
delete) and the account's organization (read-only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servicetokens.dashboard.http import Form, Handler, Page, Seen, read_form, redirect
from servicetokens.domain.access.listing import AppFilter
from servicetokens.domain.access.policies import Decision
from servicetokens.domain.errors import Conflict, DomainError, NotFound, ValidationError
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.permissions import ContainerKind
from servicetokens.usecases.authorization import ContainerRef

__all__ = ["DECISIONS", "PAGES", "policy_body"]

DECISIONS = (
    (Decision.NON_IDENTITY.value, "Service Auth (service tokens)"),
    (Decision.ALLOW.value, "Allow"),
    (Decision.DENY.value, "Block"),
    (Decision.BYPASS.value, "Bypass"),
)
_LIST = ListQuery(page=1, per_page=1000)
_TOKEN_CHOICES = ListQuery(page=1, per_page=200)


def _ref(request: Request) -> ContainerRef:
    account_id: str = request.path_params["account_id"]
    return ContainerRef(ContainerKind.ACCOUNT, account_id, request.url.path)


def _rules(text: str, field: str) -> list[object]:
    if not text.strip():
        return []
    try:
        rules = json.loads(text)
    except ValueError:
        raise ValidationError(f"{field} must be a JSON list of rules") from None
    if not isinstance(rules, list):
        raise ValidationError(f"{field} must be a JSON list of rules")
    return rules


def policy_body(form: Form) -> dict[str, object]:
    """A policy's API body from the policy form: the chosen service tokens and `any valid
    service token` join the other include rules given as JSON."""
    include: list[object] = [{"service_token": {"token_id": t}} for t in form.all("token")]
    if form.get("any_token"):
        include.append({"any_valid_service_token": {}})
    include += _rules(form.get("include_json"), "Other include rules")
    return {
        "name": form.get("name"),
        "decision": form.get("decision"),
        "include": include,
        "require": _rules(form.get("require_json"), "Require rules"),
        "exclude": _rules(form.get("exclude_json"), "Exclude rules"),
    }


def _policy_values(body: dict[str, Any]) -> dict[str, Any]:
    include = list(body.get("include", []))
    tokens = [r["service_token"]["token_id"] for r in include if "service_token" in r]
    others = [r for r in include if "service_token" not in r and "any_valid_service_token" not in r]
    return {
        "name": body.get("name", ""),
        "decision": body.get("decision", Decision.NON_IDENTITY.value),
        "tokens": tokens,
        "any_token": any("any_valid_service_token" in r for r in include),
        "include_json": json.dumps(others) if others else "",
        "require_json": json.dumps(body.get("require")) if body.get("require") else "",
        "exclude_json": json.dumps(body.get("exclude")) if body.get("exclude") else "",
    }


async def _policy_form(
    page: Page,
    request: Request,
    seen: Seen,
    *,
    values: dict[str, Any],
    policy_id: str | None,
    status: int = 200,
    error: str | None = None,
) -> Response:
    found = await run_in_threadpool(
        page.service.tokens.read_page, seen.visitor.principal, _ref(request), _TOKEN_CHOICES
    )
    return page.render(
        request,
        "policy_form.html",
        seen=seen,
        status=status,
        values=values,
        error=error,
        policy_id=policy_id,
        decisions=DECISIONS,
        tokens=found.tokens,
    )


def _policies_list(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        found = await run_in_threadpool(
            page.service.policies.read_page, seen.visitor.principal, _ref(request), _LIST
        )
        return page.render(request, "policies.html", seen=seen, policies=found.policies)

    return handler


def _policy_new(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        return await _policy_form(page, request, seen, values=_policy_values({}), policy_id=None)

    return handler


def _policy_edit(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        view = await run_in_threadpool(
            page.service.policies.get,
            seen.visitor.principal,
            _ref(request),
            request.path_params["policy_id"],
        )
        values = _policy_values(view.policy.fields.as_body())
        return await _policy_form(page, request, seen, values=values, policy_id=view.policy.id)

    return handler


def _policy_save(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        form = await read_form(request, csrf_token=seen.visitor.csrf_token)
        policy_id = request.path_params.get("policy_id")
        try:
            body = policy_body(form)
            if policy_id is None:
                await run_in_threadpool(
                    page.service.policies.create, seen.visitor.principal, _ref(request), body
                )
            else:
                await run_in_threadpool(
                    page.service.policies.update,
                    seen.visitor.principal,
                    _ref(request),
                    policy_id,
                    body,
                )
        except (ValidationError, Conflict) as exc:
            values = {
                **_policy_values({}),
                "name": form.get("name"),
                "decision": form.get("decision"),
                "tokens": form.all("token"),
                "any_token": bool(form.get("any_token")),
                **{k: form.get(k) for k in ("include_json", "require_json", "exclude_json")},
            }
            return await _policy_form(
                page,
                request,
                seen,
                values=values,
                policy_id=policy_id,
                status=exc.status,
                error=exc.message,
            )
        return redirect(f"/accounts/{request.path_params['account_id']}/policies")

    return handler


def _apps_list(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        found = await run_in_threadpool(
            page.service.applications.read_page,
            seen.visitor.principal,
            _ref(request),
            AppFilter(),
            _LIST,
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
        page.service.policies.read_page, seen.visitor.principal, _ref(request), _LIST
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
            _ref(request),
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
                    page.service.applications.create, seen.visitor.principal, _ref(request), body
                )
            else:
                await run_in_threadpool(
                    page.service.applications.update,
                    seen.visitor.principal,
                    _ref(request),
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
                await run_in_threadpool(call, seen.visitor.principal, _ref(request), object_id)
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
                page.service.organizations.get, seen.visitor.principal, _ref(request)
            )
        except NotFound:
            org = None
        body = None if org is None else json.dumps(org.body, indent=2, sort_keys=True)
        return page.render(request, "organization.html", seen=seen, body=body)

    return handler


_P = "/accounts/{account_id}/policies"
_A = "/accounts/{account_id}/apps"

PAGES: tuple[tuple[str, list[str], Callable[[Page], Handler]], ...] = (
    (_P, ["GET"], _policies_list),
    (_P, ["POST"], _policy_save),
    (f"{_P}/new", ["GET"], _policy_new),
    (f"{_P}/{{policy_id}}", ["GET"], _policy_edit),
    (f"{_P}/{{policy_id}}", ["POST"], _policy_save),
    (f"{_P}/{{policy_id}}/delete", ["POST"], _delete("policies")),
    (_A, ["GET"], _apps_list),
    (_A, ["POST"], _app_save),
    (f"{_A}/new", ["GET"], _app_new),
    (f"{_A}/{{app_id}}", ["GET"], _app_edit),
    (f"{_A}/{{app_id}}", ["POST"], _app_save),
    (f"{_A}/{{app_id}}/delete", ["POST"], _delete("apps")),
    ("/accounts/{account_id}/organization", ["GET"], _organization),
)
