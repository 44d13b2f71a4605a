"""`/accounts/{account_id}/access/service_tokens` and `/zones/{zone_id}/...`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from servicetokens.api.auth import CurrentCredential, get_service, origin_of, parse_credential
from servicetokens.api.body import decode_json
from servicetokens.api.envelope import render_page, serialize_token, success
from servicetokens.api.scan_lane import ScanLane
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
from servicetokens.domain.credentials import Credential
from servicetokens.domain.fields import parse_rotate_body, parse_token_fields
from servicetokens.domain.paging import parse_list_query
from servicetokens.domain.permissions import ContainerKind, Permission, Principal
from servicetokens.service import ContainerRef, PendingPage, Service

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


async def _call(
    request: Request,
    credential: Credential,
    kind: ContainerKind,
    need: Permission,
    operation: Callable[[Service, Principal, ContainerRef], Response],
) -> Response:
    """Authorize, then run `operation`, in one trip to the thread pool.

    Order of checks: credential, container id, permission, then the operation's own
    validation (body, token id), so a caller without the right learns nothing more.
    """
    service = get_service(request)
    ref = _ref(kind, request)
    origin = origin_of(request)

    def run() -> Response:
        principal = service.authorize(credential, ref, need, origin=origin)
        return operation(service, principal, ref)

    return await run_in_threadpool(run)


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
        # Handlers read the container id from the request, so it is declared here.
        extra: dict[str, object] = {"parameters": [_path_param(param), *(params or [])]}
        if body:
            extra["requestBody"] = body

        def decorator(handler: Handler) -> Handler:
            router.add_api_route(
                path,
                handler,
                openapi_extra=extra,
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
        params=_LIST_PARAMS,
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
            service.find_page, credential, _ref(kind, request), query, present=render_page
        )
        # SQLite answers a memoised or near unfiltered page in microseconds without blocking
        # I/O, so that runs on the event loop; PostgreSQL calls go to the thread pool.
        found = call() if service.repository.inline_reads else await run_in_threadpool(call)
        if isinstance(found, PendingPage):
            # A search, filter or deep page the memo did not hold: a scan, run in the scan
            # lane (its own threads, one at a time per account or zone), never on the loop.
            lane: ScanLane = request.app.state.scan_lane
            container = found.container
            found = await lane.run((container.kind, container.id), found.run)
        return Response(found, media_type="application/json")

    @route(
        "POST",
        collection,
        "create-a-service-token",
        "Create a service token",
        201,
        model=ServiceTokenWithSecretEnvelope,
        body=request_body(CreateInput, required=True),
    )
    async def create_token(request: Request, credential: CurrentCredential) -> Response:
        raw = await request.body()  # decoded only once the caller is authorized

        def create(service: Service, principal: Principal, ref: ContainerRef) -> Response:
            fields = parse_token_fields(decode_json(raw), require_name=True)
            token, secret = service.create_token(principal, ref, fields)
            return success(serialize_token(token, secret=secret), status=201)

        return await _call(request, credential, kind, Permission.WRITE, create)

    @route("GET", item, "get-a-service-token", "Get a service token")
    async def get_token(
        request: Request, credential: CurrentCredential, service_token_id: str
    ) -> Response:
        def get(service: Service, principal: Principal, ref: ContainerRef) -> Response:
            return success(serialize_token(service.get_token(principal, ref, service_token_id)))

        return await _call(request, credential, kind, Permission.READ, get)

    @route(
        "PUT",
        item,
        "update-a-service-token",
        "Update a service token",
        model=ServiceTokenUpdateEnvelope,
        body=request_body(TokenInput, required=False),
    )
    async def update_token(
        request: Request, credential: CurrentCredential, service_token_id: str
    ) -> Response:
        raw = await request.body()  # decoded only once the caller is authorized

        def update(service: Service, principal: Principal, ref: ContainerRef) -> Response:
            body = decode_json(raw)
            fields = parse_token_fields({} if body is None else body, require_name=False)
            token, secret = service.update_token(principal, ref, service_token_id, fields)
            return success(serialize_token(token, secret=secret))

        return await _call(request, credential, kind, Permission.WRITE, update)

    @route("DELETE", item, "delete-a-service-token", "Delete a service token")
    async def delete_token(
        request: Request, credential: CurrentCredential, service_token_id: str
    ) -> Response:
        def delete(service: Service, principal: Principal, ref: ContainerRef) -> Response:
            return success(serialize_token(service.delete_token(principal, ref, service_token_id)))

        return await _call(request, credential, kind, Permission.WRITE, delete)

    @route("POST", f"{item}/refresh", "refresh-a-service-token", "Refresh a service token")
    async def refresh_token(
        request: Request, credential: CurrentCredential, service_token_id: str
    ) -> Response:
        raw = await request.body()  # accepted and ignored, but must be JSON if sent

        def refresh(service: Service, principal: Principal, ref: ContainerRef) -> Response:
            decode_json(raw)
            return success(serialize_token(service.refresh_token(principal, ref, service_token_id)))

        return await _call(request, credential, kind, Permission.WRITE, refresh)

    @route(
        "POST",
        f"{item}/rotate",
        "rotate-a-service-token",
        "Rotate a service token",
        model=ServiceTokenWithSecretEnvelope,
        body=request_body(RotateInput, required=False),
    )
    async def rotate_token(
        request: Request, credential: CurrentCredential, service_token_id: str
    ) -> Response:
        raw = await request.body()  # decoded only once the caller is authorized

        def rotate(service: Service, principal: Principal, ref: ContainerRef) -> Response:
            previous = parse_rotate_body(decode_json(raw))
            token, secret = service.rotate_token(
                principal, ref, service_token_id, previous_expires_at=previous
            )
            return success(serialize_token(token, secret=secret))

        return await _call(request, credential, kind, Permission.WRITE, rotate)


for _kind in ContainerKind:
    _register(_kind)
