"""`/{accounts|zones}/{id}/access/apps/{app_id}/policies`: an application's policies."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from servicetokens.api.access_bodies import serialize_policy
from servicetokens.api.access_schemas import (
    AppPolicyEnvelope,
    AppPolicyInput,
    AppPolicyListEnvelope,
    IdEnvelope,
)
from servicetokens.api.authorized import CanRead, CanWrite
from servicetokens.api.body import decode_json
from servicetokens.api.envelope import success
from servicetokens.api.route_table import PAGE_PARAMS, Route, page_response, register
from servicetokens.api.schemas import request_body
from servicetokens.domain.access.listing import parse_page
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases

__all__ = ["ROUTES", "router"]


async def list_app_policies(request: Request, caller: CanRead, app_id: str) -> Response:
    params = request.query_params

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        query = parse_page(params.get("page"), params.get("per_page"))
        page = service.app_policies.read_page(principal, ref, app_id, query)
        return page_response([serialize_policy(view) for view in page.policies], page.info)

    return await caller.call(run)


async def create_app_policy(request: Request, caller: CanWrite, app_id: str) -> Response:
    raw = await request.body()  # decoded only once the caller is authorized

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        view = service.app_policies.create(principal, ref, app_id, decode_json(raw))
        return success(serialize_policy(view), status=201)

    return await caller.call(run)


async def get_app_policy(caller: CanRead, app_id: str, policy_id: str) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        view = service.app_policies.get(principal, ref, app_id, policy_id)
        return success(serialize_policy(view))

    return await caller.call(run)


async def update_app_policy(
    request: Request, caller: CanWrite, app_id: str, policy_id: str
) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        body = decode_json(raw)
        view = service.app_policies.update(principal, ref, app_id, policy_id, body)
        return success(serialize_policy(view))

    return await caller.call(run)


async def delete_app_policy(
    request: Request, caller: CanWrite, app_id: str, policy_id: str
) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        decode_json(raw)
        policy = service.app_policies.delete(principal, ref, app_id, policy_id)
        return success({"id": policy.id}, status=202)

    return await caller.call(run)


_LIST = "/{app_id}/policies"
_ITEM = "/{app_id}/policies/{policy_id}"

ROUTES = (
    Route(
        "GET",
        _LIST,
        "list-access-app-policies",
        "List an Access application's policies",
        list_app_policies,
        AppPolicyListEnvelope,
        params=PAGE_PARAMS,
    ),
    Route(
        "POST",
        _LIST,
        "create-an-access-policy",
        "Create an application-scoped Access policy",
        create_app_policy,
        AppPolicyEnvelope,
        201,
        body=request_body(AppPolicyInput, required=True),
    ),
    Route(
        "GET",
        _ITEM,
        "get-an-access-policy",
        "Get an Access application's policy",
        get_app_policy,
        AppPolicyEnvelope,
    ),
    Route(
        "PUT",
        _ITEM,
        "update-an-access-policy",
        "Update an application-scoped Access policy (merged)",
        update_app_policy,
        AppPolicyEnvelope,
        body=request_body(AppPolicyInput, required=False),
    ),
    Route(
        "DELETE",
        _ITEM,
        "delete-an-access-policy",
        "Delete an application-scoped Access policy",
        delete_app_policy,
        IdEnvelope,
        202,
    ),
)
"""An application's policy operations, at account and zone scope."""

router = APIRouter(tags=["Access application policies"])
for _kind in ContainerKind:
    register(router, _kind, collection="apps", op_prefix="access-policies", routes=ROUTES)
