"""`/{accounts|zones}/{id}/access/apps`: self-hosted Access applications."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from servicetokens.api.access_bodies import serialize_app
from servicetokens.api.access_schemas import (
    AppEnvelope,
    AppInput,
    AppListEnvelope,
    IdEnvelope,
    NullEnvelope,
)
from servicetokens.api.authorized import CanRead, CanWrite
from servicetokens.api.body import decode_json
from servicetokens.api.envelope import success
from servicetokens.api.route_table import PAGE_PARAMS, Route, page_response, query_param, register
from servicetokens.api.schemas import request_body
from servicetokens.domain.access.listing import parse_app_filter, parse_page
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases

__all__ = ["ROUTES", "router"]

_TEXT: dict[str, object] = {"type": "string"}
_LIST_PARAMS = (
    query_param("aud", "Only the application with this audience tag.", _TEXT),
    query_param("domain", "Only applications whose domain contains this text.", _TEXT),
    query_param("name", "Only applications whose name contains this text.", _TEXT),
    query_param("search", "Only applications whose name or domain contains this text.", _TEXT),
    query_param("exact", "Match `name` and `domain` exactly.", {"type": "boolean"}),
    query_param("target_attributes", "Accepted and ignored (infrastructure apps).", _TEXT),
    *PAGE_PARAMS,
)


async def list_apps(request: Request, caller: CanRead) -> Response:
    params = request.query_params

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        where = parse_app_filter(
            aud=params.get("aud"),
            domain=params.get("domain"),
            name=params.get("name"),
            search=params.get("search"),
            exact=params.get("exact"),
        )
        query = parse_page(params.get("page"), params.get("per_page"))
        page = service.applications.read_page(principal, ref, where, query)
        return page_response([serialize_app(app) for app in page.apps], page.info)

    return await caller.call(run)


async def create_app(request: Request, caller: CanWrite) -> Response:
    raw = await request.body()  # decoded only once the caller is authorized

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        app = service.applications.create(principal, ref, decode_json(raw))
        return success(serialize_app(app), status=201)

    return await caller.call(run)


async def get_app(caller: CanRead, app_id: str) -> Response:
    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        return success(serialize_app(service.applications.get(principal, ref, app_id)))

    return await caller.call(run)


async def update_app(request: Request, caller: CanWrite, app_id: str) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        app = service.applications.update(principal, ref, app_id, decode_json(raw))
        return success(serialize_app(app))

    return await caller.call(run)


async def delete_app(request: Request, caller: CanWrite, app_id: str) -> Response:
    raw = await request.body()  # none expected; accepted if empty or JSON

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        decode_json(raw)
        app = service.applications.delete(principal, ref, app_id)
        return success({"id": app.id}, status=202)

    return await caller.call(run)


async def revoke_tokens(request: Request, caller: CanWrite, app_id: str) -> Response:
    raw = await request.body()

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> Response:
        decode_json(raw)
        service.applications.revoke_tokens(principal, ref, app_id)
        return success(None, status=202)

    return await caller.call(run)


_ITEM = "/{app_id}"

ROUTES = (
    Route(
        "GET",
        "",
        "list-access-applications",
        "List Access applications",
        list_apps,
        AppListEnvelope,
        params=_LIST_PARAMS,
    ),
    Route(
        "POST",
        "",
        "add-an-application",
        "Add a self-hosted Access application",
        create_app,
        AppEnvelope,
        201,
        body=request_body(AppInput, required=True),
    ),
    Route(
        "GET", _ITEM, "get-an-access-application", "Get an Access application", get_app, AppEnvelope
    ),
    Route(
        "PUT",
        _ITEM,
        "update-an-access-application",
        "Update an Access application",
        update_app,
        AppEnvelope,
        body=request_body(AppInput, required=True),
    ),
    Route(
        "DELETE",
        _ITEM,
        "delete-an-access-application",
        "Delete an Access application",
        delete_app,
        IdEnvelope,
        202,
    ),
    Route(
        "POST",
        f"{_ITEM}/revoke_tokens",
        "revoke-service-tokens",
        "Revoke the JWTs issued for an application",
        revoke_tokens,
        NullEnvelope,
        202,
    ),
)
"""Every application operation, at account and zone scope."""

router = APIRouter(tags=["Access applications"])
for _kind in ContainerKind:
    register(router, _kind, collection="apps", op_prefix="access-applications", routes=ROUTES)
