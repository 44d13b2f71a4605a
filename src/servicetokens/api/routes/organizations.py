"""`/{accounts|zones}/{id}/access/organizations`: the Zero Trust organization (GET, POST,
PUT; PATCH answers as PUT, as Cloudflare's documentation uses it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from servicetokens.api.access_bodies import serialize_organization
from servicetokens.api.access_schemas import OrganizationEnvelope, OrganizationInput
from servicetokens.api.authorized import CanRead, CanWrite
from servicetokens.api.body import decode_json
from servicetokens.api.envelope import success
from servicetokens.api.route_table import Route, register
from servicetokens.api.schemas import request_body
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases

__all__ = ["ROUTES", "router"]


async def get_organization(caller: CanRead) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        return success(serialize_organization(service.organizations.get(principal, ref)))

    return await caller.call(run)


async def create_organization(request: Request, caller: CanWrite) -> Response:
    raw = await request.body()  # decoded only once the caller is authorized

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        organization = service.organizations.create(principal, ref, decode_json(raw))
        return success(serialize_organization(organization), status=201)

    return await caller.call(run)


async def update_organization(request: Request, caller: CanWrite) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        organization = service.organizations.update(principal, ref, decode_json(raw))
        return success(serialize_organization(organization))

    return await caller.call(run)


ROUTES = (
    Route(
        "GET",
        "",
        "get-your-zero-trust-organization",
        "Get your Zero Trust organization",
        get_organization,
        OrganizationEnvelope,
    ),
    Route(
        "POST",
        "",
        "create-your-zero-trust-organization",
        "Create your Zero Trust organization",
        create_organization,
        OrganizationEnvelope,
        201,
        body=request_body(OrganizationInput, required=True),
    ),
    Route(
        "PUT",
        "",
        "update-your-zero-trust-organization",
        "Update your Zero Trust organization",
        update_organization,
        OrganizationEnvelope,
        body=request_body(OrganizationInput, required=False),
    ),
    Route(
        "PATCH",
        "",
        "patch-your-zero-trust-organization",
        "Update your Zero Trust organization (as PUT)",
        update_organization,
        OrganizationEnvelope,
        body=request_body(OrganizationInput, required=False),
    ),
)
"""The organization's operations, at account and zone scope."""

router = APIRouter(tags=["Zero Trust organization"])
for _kind in ContainerKind:
    register(
        router,
        _kind,
        collection="organizations",
        op_prefix="zero-trust-organization",
        routes=ROUTES,
    )
