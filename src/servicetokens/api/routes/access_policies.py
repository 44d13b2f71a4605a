"""`/accounts/{account_id}/access/policies`: reusable Access policies (account scope only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from servicetokens.api.access_bodies import serialize_policy
from servicetokens.api.access_schemas import (
    IdEnvelope,
    PolicyEnvelope,
    PolicyInput,
    PolicyListEnvelope,
)
from servicetokens.api.authorized import CanRead, CanWrite
from servicetokens.api.body import decode_json
from servicetokens.api.envelope import success
from servicetokens.api.route_table import (
    PAGE_PARAMS,
    Route,
    page_response,
    register,
)
from servicetokens.api.schemas import request_body
from servicetokens.domain.access.listing import parse_page
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases

__all__ = ["ROUTES", "router"]

# (No docstrings on handlers: FastAPI would serve them as the operations' descriptions.)


async def list_policies(request: Request, caller: CanRead) -> Response:
    params = request.query_params

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        query = parse_page(params.get("page"), params.get("per_page"))
        page = service.policies.read_page(principal, ref, query)
        return page_response([serialize_policy(view) for view in page.policies], page.info)

    return await caller.call(run)


async def create_policy(request: Request, caller: CanWrite) -> Response:
    raw = await request.body()  # decoded only once the caller is authorized

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        view = service.policies.create(principal, ref, decode_json(raw))
        return success(serialize_policy(view), status=201)

    return await caller.call(run)


async def get_policy(caller: CanRead, policy_id: str) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        return success(serialize_policy(service.policies.get(principal, ref, policy_id)))

    return await caller.call(run)


async def update_policy(request: Request, caller: CanWrite, policy_id: str) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        view = service.policies.update(principal, ref, policy_id, decode_json(raw))
        return success(serialize_policy(view))

    return await caller.call(run)


async def delete_policy(request: Request, caller: CanWrite, policy_id: str) -> Response:
    raw = await request.body()  # none expected; accepted if empty or JSON

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        decode_json(raw)
        policy = service.policies.delete(principal, ref, policy_id)
        return success({"id": policy.id}, status=202)

    return await caller.call(run)


_ITEM = "/{policy_id}"

ROUTES = (
    Route(
        "GET",
        "",
        "list-access-reusable-policies",
        "List Access reusable policies",
        list_policies,
        PolicyListEnvelope,
        params=PAGE_PARAMS,
    ),
    Route(
        "POST",
        "",
        "create-an-access-reusable-policy",
        "Create an Access reusable policy",
        create_policy,
        PolicyEnvelope,
        201,
        body=request_body(PolicyInput, required=True),
    ),
    Route(
        "GET",
        _ITEM,
        "get-an-access-reusable-policy",
        "Get an Access reusable policy",
        get_policy,
        PolicyEnvelope,
    ),
    Route(
        "PUT",
        _ITEM,
        "update-an-access-reusable-policy",
        "Update an Access reusable policy",
        update_policy,
        PolicyEnvelope,
        body=request_body(PolicyInput, required=True),
    ),
    Route(
        "DELETE",
        _ITEM,
        "delete-an-access-reusable-policy",
        "Delete an Access reusable policy",
        delete_policy,
        IdEnvelope,
        202,
    ),
)
"""Every reusable-policy operation (account scope only, as Cloudflare has it)."""

router = APIRouter(tags=["Access reusable policies"])
register(
    router,
    ContainerKind.ACCOUNT,
    collection="policies",
    op_prefix="access-policies",
    routes=ROUTES,
)
