"""The reusable Access policies' pages: list, create, edit (the service tokens a policy
includes are chosen from the account's; other rules are given as JSON)."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from servicetokens.dashboard.http import Form, Handler, Page, Seen, read_form, redirect
from servicetokens.domain.access.policies import Decision
from servicetokens.domain.errors import Conflict, ValidationError
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.permissions import ContainerKind
from servicetokens.usecases.authorization import ContainerRef

__all__ = [
    "DECISIONS",
    "policies_list",
    "policy_body",
    "policy_edit",
    "policy_new",
    "policy_save",
]

DECISIONS = (
    (Decision.NON_IDENTITY.value, "Service Auth (service tokens)"),
    (Decision.ALLOW.value, "Allow"),
    (Decision.DENY.value, "Block"),
    (Decision.BYPASS.value, "Bypass"),
)
LIST_ALL = ListQuery(page=1, per_page=1000)
_TOKEN_CHOICES = ListQuery(page=1, per_page=200)


def account_ref(request: Request) -> ContainerRef:
    """The account the page's path names."""
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
        page.service.tokens.read_page, seen.visitor.principal, account_ref(request), _TOKEN_CHOICES
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


def policies_list(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        found = await run_in_threadpool(
            page.service.policies.read_page, seen.visitor.principal, account_ref(request), LIST_ALL
        )
        return page.render(request, "policies.html", seen=seen, policies=found.policies)

    return handler


def policy_new(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        return await _policy_form(page, request, seen, values=_policy_values({}), policy_id=None)

    return handler


def policy_edit(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        view = await run_in_threadpool(
            page.service.policies.get,
            seen.visitor.principal,
            account_ref(request),
            request.path_params["policy_id"],
        )
        values = _policy_values(view.policy.fields.as_body())
        return await _policy_form(page, request, seen, values=values, policy_id=view.policy.id)

    return handler


def policy_save(page: Page) -> Handler:
    async def handler(request: Request, seen: Seen) -> Response:
        form = await read_form(request, csrf_token=seen.visitor.csrf_token)
        policy_id = request.path_params.get("policy_id")
        try:
            body = policy_body(form)
            if policy_id is None:
                await run_in_threadpool(
                    page.service.policies.create, seen.visitor.principal, account_ref(request), body
                )
            else:
                await run_in_threadpool(
                    page.service.policies.update,
                    seen.visitor.principal,
                    account_ref(request),
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
