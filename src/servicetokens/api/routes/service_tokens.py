"""`/accounts/{account_id}/access/service_tokens` and `/zones/{zone_id}/...`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from servicetokens.api.auth import CurrentPrincipal, ServiceDep, get_service, parse_credential
from servicetokens.api.body import read_json
from servicetokens.api.envelope import render_page, serialize_token, success
from servicetokens.api.schemas import (
    CreateInput,
    RotateInput,
    ServiceTokenEnvelope,
    ServiceTokenListEnvelope,
    ServiceTokenUpdateEnvelope,
    ServiceTokenWithSecretEnvelope,
    TokenInput,
    request_body,
    responses_for,
)
from servicetokens.domain.fields import parse_rotate_body, parse_token_fields
from servicetokens.domain.paging import parse_list_query
from servicetokens.domain.permissions import ContainerKind
from servicetokens.service import ContainerRef

__all__ = ["router"]

router = APIRouter(tags=["Access service tokens"])

_SCOPES = {
    ContainerKind.ACCOUNT: ("accounts", "account_id", "access-service-tokens"),
    ContainerKind.ZONE: ("zones", "zone_id", "zone-level-access-service-tokens"),
}


def _query_param(name: str, description: str, schema: dict[str, object]) -> dict[str, object]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _path_param(name: str) -> dict[str, object]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": "32 lowercase hex digits.",
        "schema": {"type": "string", "maxLength": 32},
    }


_LIST_PARAMS = [
    _query_param("name", "Only tokens with exactly this name.", {"type": "string"}),
    _query_param(
        "search",
        "Only tokens whose name or client id contains this text (case-insensitive).",
        {"type": "string"},
    ),
    _query_param("page", "Page number, from 1.", {"type": "integer", "minimum": 1, "default": 1}),
    _query_param(
        "per_page",
        "Tokens per page (larger values are clamped to 1000).",
        {"type": "integer", "minimum": 1, "default": 1000},
    ),
]


def _ref(kind: ContainerKind, request: Request) -> ContainerRef:
    param = _SCOPES[kind][1]
    return ContainerRef(kind, request.path_params[param], request.url.path)


def _register(kind: ContainerKind) -> None:
    segment, param, op_prefix = _SCOPES[kind]
    collection = f"/{segment}/{{{param}}}/access/service_tokens"
    item = f"{collection}/{{service_token_id}}"
    Handler = Callable[..., Awaitable[Response]]

    def route(
        method: str,
        path: str,
        op: str,
        summary: str,
        status: int = 200,
        params: list[dict[str, object]] | None = None,
        model: type[BaseModel] = ServiceTokenEnvelope,
        body: dict[str, object] | None = None,
    ) -> Callable[[Handler], Handler]:
        extra: dict[str, object] = {}
        if params:
            extra["parameters"] = params
        if body:
            extra["requestBody"] = body

        def decorator(handler: Handler) -> Handler:
            router.add_api_route(
                path,
                handler,
                openapi_extra=extra or None,
                methods=[method],
                operation_id=f"{op_prefix}-{op}",
                summary=summary,
                status_code=status,
                response_class=Response,
                responses=responses_for(status, model),
            )
            return handler

        return decorator

    @route(
        "GET",
        collection,
        "list-service-tokens",
        "List service tokens",
        params=[_path_param(param), *_LIST_PARAMS],
        model=ServiceTokenListEnvelope,
    )
    async def list_tokens(request: Request) -> Response:
        # The hottest route takes only the request: FastAPI's dependency and parameter
        # machinery costs more than the whole memoised list does (see docs/performance.md).
        service = get_service(request)
        credential = parse_credential(request.headers)
        params = request.query_params
        query = parse_list_query(
            name=params.get("name"),
            search=params.get("search"),
            page=params.get("page"),
            per_page=params.get("per_page"),
        )
        call = partial(
            service.list_tokens, credential, _ref(kind, request), query, present=render_page
        )
        # SQLite answers the (usually memoised) list in microseconds without blocking I/O, so
        # it runs on the event loop; PostgreSQL calls go to the thread pool.
        body = call() if service.repository.inline_reads else await run_in_threadpool(call)
        return Response(body, media_type="application/json")

    @route(
        "POST",
        collection,
        "create-a-service-token",
        "Create a service token",
        201,
        model=ServiceTokenWithSecretEnvelope,
        body=request_body(CreateInput, required=True),
    )
    async def create_token(
        request: Request, principal: CurrentPrincipal, service: ServiceDep
    ) -> Response:
        ref = _ref(kind, request)
        fields = parse_token_fields(await read_json(request), require_name=True)
        token, secret = await run_in_threadpool(service.create_token, principal, ref, fields)
        return success(serialize_token(token, secret=secret), status=201)

    @route("GET", item, "get-a-service-token", "Get a service token")
    async def get_token(
        request: Request, principal: CurrentPrincipal, service: ServiceDep, service_token_id: str
    ) -> Response:
        ref = _ref(kind, request)
        token = await run_in_threadpool(service.get_token, principal, ref, service_token_id)
        return success(serialize_token(token))

    @route(
        "PUT",
        item,
        "update-a-service-token",
        "Update a service token",
        model=ServiceTokenUpdateEnvelope,
        body=request_body(TokenInput, required=False),
    )
    async def update_token(
        request: Request, principal: CurrentPrincipal, service: ServiceDep, service_token_id: str
    ) -> Response:
        ref = _ref(kind, request)
        body = await read_json(request)
        fields = parse_token_fields({} if body is None else body, require_name=False)
        token, secret = await run_in_threadpool(
            service.update_token, principal, ref, service_token_id, fields
        )
        return success(serialize_token(token, secret=secret))

    @route("DELETE", item, "delete-a-service-token", "Delete a service token")
    async def delete_token(
        request: Request, principal: CurrentPrincipal, service: ServiceDep, service_token_id: str
    ) -> Response:
        ref = _ref(kind, request)
        token = await run_in_threadpool(service.delete_token, principal, ref, service_token_id)
        return success(serialize_token(token))

    @route("POST", f"{item}/refresh", "refresh-a-service-token", "Refresh a service token")
    async def refresh_token(
        request: Request, principal: CurrentPrincipal, service: ServiceDep, service_token_id: str
    ) -> Response:
        ref = _ref(kind, request)
        await read_json(request)  # any body is accepted and ignored, but must be valid if sent
        token = await run_in_threadpool(service.refresh_token, principal, ref, service_token_id)
        return success(serialize_token(token))

    @route(
        "POST",
        f"{item}/rotate",
        "rotate-a-service-token",
        "Rotate a service token",
        model=ServiceTokenWithSecretEnvelope,
        body=request_body(RotateInput, required=False),
    )
    async def rotate_token(
        request: Request, principal: CurrentPrincipal, service: ServiceDep, service_token_id: str
    ) -> Response:
        ref = _ref(kind, request)
        previous = parse_rotate_body(await read_json(request))
        token, secret = await run_in_threadpool(
            lambda: service.rotate_token(
                principal, ref, service_token_id, previous_expires_at=previous
            )
        )
        return success(serialize_token(token, secret=secret))


for _kind in ContainerKind:
    _register(_kind)
