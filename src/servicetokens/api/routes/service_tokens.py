"""`/accounts/{account_id}/access/service_tokens` and `/zones/{zone_id}/...`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from servicetokens.api.auth import parse_credential
from servicetokens.api.authorized import SCOPE_PARAMS, CanWrite, container_ref
from servicetokens.api.body import decode_json
from servicetokens.api.envelope import serialize_token, success
from servicetokens.api.page_memo import ListPages
from servicetokens.api.routing import by_specificity
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
from servicetokens.domain.paging import Direction, Order, parse_list_query
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.service_tokens import ListAccess, PendingScan, ServiceTokens

__all__ = ["ROUTES", "RouteSpec", "add_scope", "router"]

_SCOPES = {
    ContainerKind.ACCOUNT: ("accounts", "access-service-tokens"),
    ContainerKind.ZONE: ("zones", "zone-level-access-service-tokens"),
}
"""Per scope: the path segment and the prefix of its operation ids."""


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


_TIME: dict[str, object] = {"type": "string", "format": "date-time"}
_LIFECYCLE_TIMES = (
    ("expires_before", "expiring strictly before this time"),
    ("expires_after", "expiring strictly after this time"),
    ("last_seen_before", "last seen (never seen: created) strictly before this time"),
)

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
    # Extensions (not Cloudflare's; the SDKs send them through `extra_query`).
    *(
        _query_param(name, f"Extension: only tokens {what} (RFC 3339).", _TIME)
        for name, what in _LIFECYCLE_TIMES
    ),
    _query_param(
        "enabled", "Extension: only enabled (true) or disabled (false) tokens.", {"type": "boolean"}
    ),
    _query_param(
        "order",
        "Extension: sort by this field (ties by created_at, then id); never-seen tokens "
        "sort by last_seen_at as if seen when created.",
        {"type": "string", "enum": [o.value for o in Order], "default": "created_at"},
    ),
    _query_param(
        "direction",
        "Extension: sort direction.",
        {"type": "string", "enum": [d.value for d in Direction], "default": "asc"},
    ),
]
_LIST_EXTENSIONS = (
    "expires_before",
    "expires_after",
    "last_seen_before",
    "enabled",
    "order",
    "direction",
)


# -- handlers: parse, call the use cases, shape the response ------------------------------
# (No docstrings: FastAPI would serve them as the operations' descriptions.)


async def list_tokens(request: Request) -> Response:
    # The hottest route takes only the request: FastAPI's dependency and parameter
    # machinery costs more than the whole memoised list does (see docs/performance.md).
    state = request.app.state
    lists: ListPages = state.list_pages
    credential = parse_credential(request.headers)
    params = request.query_params
    query = parse_list_query(
        name=params.get("name"),
        search=params.get("search"),
        page=params.get("page"),
        per_page=params.get("per_page"),
        **{name: params.get(name) for name in _LIST_EXTENSIONS},
    )
    ref = container_ref(request)
    found: bytes | PendingScan | ListAccess
    if lists.inline:
        # SQLite answers a memoised or near unfiltered page in microseconds without blocking
        # I/O, so that runs on the event loop.
        found = lists.find(credential, ref, query)
    else:
        # PostgreSQL: the probe is awaited on the loop, which also answers a memoised page
        # and knows a scan without a read; any other page is read in the thread pool.
        found = await lists.find_async(credential, ref, query)
        if isinstance(found, ListAccess):
            pending = lists.pending(found, query)
            if pending is None:
                found = await run_in_threadpool(lists.page, found, query)
            else:
                found = pending
    if isinstance(found, PendingScan):
        # A search, filter or deep page the memo did not hold: a scan, in the scan lane
        # (`ListPages.scan`), never run on the loop.
        found = await lists.scan(found, state.scan_lane)
    return Response(found, media_type=_JSON)


async def create_token(request: Request, caller: CanWrite) -> Response:
    raw = await request.body()  # decoded only once the caller is authorized

    def create(tokens: ServiceTokens, principal: Principal, ref: ContainerRef) -> Response:
        fields = parse_token_fields(decode_json(raw), require_name=True)
        token, secret = tokens.create(principal, ref, fields)
        return success(serialize_token(token, secret=secret), status=201)

    return await caller.run(create)


async def get_token(request: Request) -> Response:
    # Like the list: the request alone, the probe on the loop (PostgreSQL) or inline
    # (SQLite), and the body memoised at the container's version.
    lists: ListPages = request.app.state.list_pages
    credential = parse_credential(request.headers)
    ref = container_ref(request)
    token_id: str = request.path_params["service_token_id"]
    if lists.inline:
        return Response(lists.token(lists.open(credential, ref), token_id), media_type=_JSON)
    # PostgreSQL: a memo miss is read on the loop too (`store.async_reads`): the thread
    # pool's hop, checkout and ping cost more than the primary-key lookup.
    access = await lists.open_async(credential, ref)
    return Response(await lists.token_async(access, token_id), media_type=_JSON)


async def update_token(request: Request, caller: CanWrite, service_token_id: str) -> Response:
    raw = await request.body()  # decoded only once the caller is authorized

    def update(tokens: ServiceTokens, principal: Principal, ref: ContainerRef) -> Response:
        body = decode_json(raw)
        fields = parse_token_fields({} if body is None else body, require_name=False)
        token, secret = tokens.update(principal, ref, service_token_id, fields)
        return success(serialize_token(token, secret=secret))

    return await caller.run(update)


async def delete_token(caller: CanWrite, service_token_id: str) -> Response:
    def delete(tokens: ServiceTokens, principal: Principal, ref: ContainerRef) -> Response:
        return success(serialize_token(tokens.delete(principal, ref, service_token_id)))

    return await caller.run(delete)


async def refresh_token(request: Request, caller: CanWrite, service_token_id: str) -> Response:
    raw = await request.body()  # accepted and ignored, but must be JSON if sent

    def refresh(tokens: ServiceTokens, principal: Principal, ref: ContainerRef) -> Response:
        decode_json(raw)
        return success(serialize_token(tokens.refresh(principal, ref, service_token_id)))

    return await caller.run(refresh)


async def rotate_token(request: Request, caller: CanWrite, service_token_id: str) -> Response:
    raw = await request.body()  # decoded only once the caller is authorized

    def rotate(tokens: ServiceTokens, principal: Principal, ref: ContainerRef) -> Response:
        previous = parse_rotate_body(decode_json(raw))
        token, secret = tokens.rotate(
            principal, ref, service_token_id, previous_expires_at=previous
        )
        return success(serialize_token(token, secret=secret))

    return await caller.run(rotate)


# -- routes: one table, registered once per scope -----------------------------------------


@dataclass(frozen=True)
class RouteSpec:
    """One operation under `/{accounts|zones}/{id}/access/service_tokens`: `path` is relative
    to that collection, `op` the operation id after the scope's prefix."""

    method: str
    path: str
    op: str
    summary: str
    handler: Callable[..., Awaitable[Response]]
    status: int = 200
    params: tuple[dict[str, object], ...] = ()
    model: type[BaseModel] = ServiceTokenEnvelope
    body: dict[str, object] | None = None


_ITEM = "/{service_token_id}"
_JSON = "application/json"
_TOKEN_ID_PARAM: dict[str, object] = {
    "name": "service_token_id",
    "in": "path",
    "required": True,
    "description": "The token's UUID.",
    "schema": {"type": "string", "maxLength": 36},
}

ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET",
        "",
        "list-service-tokens",
        "List service tokens",
        list_tokens,
        params=tuple(_LIST_PARAMS),
        model=ServiceTokenListEnvelope,
    ),
    RouteSpec(
        "POST",
        "",
        "create-a-service-token",
        "Create a service token",
        create_token,
        201,
        model=ServiceTokenWithSecretEnvelope,
        body=request_body(CreateInput, required=True),
    ),
    RouteSpec(
        "GET",
        _ITEM,
        "get-a-service-token",
        "Get a service token",
        get_token,
        params=(_TOKEN_ID_PARAM,),
    ),
    RouteSpec(
        "PUT",
        _ITEM,
        "update-a-service-token",
        "Update a service token",
        update_token,
        model=ServiceTokenUpdateEnvelope,
        body=request_body(TokenInput, required=False),
    ),
    RouteSpec("DELETE", _ITEM, "delete-a-service-token", "Delete a service token", delete_token),
    RouteSpec(
        "POST",
        f"{_ITEM}/refresh",
        "refresh-a-service-token",
        "Refresh a service token",
        refresh_token,
    ),
    RouteSpec(
        "POST",
        f"{_ITEM}/rotate",
        "rotate-a-service-token",
        "Rotate a service token",
        rotate_token,
        model=ServiceTokenWithSecretEnvelope,
        body=request_body(RotateInput, required=False),
    ),
)
"""Every service-token operation; order does not matter (see `add_scope`)."""


def add_scope(router: APIRouter, kind: ContainerKind, routes: Sequence[RouteSpec] = ROUTES) -> None:
    """Register `routes` on `router` for the account or zone scope.

    Routes are added most specific first (a static segment before a parameter, segment by
    segment), so a sibling such as `/service_tokens/expiring` is never answered by
    `/{service_token_id}`, wherever it sits in the table.
    """
    segment, op_prefix = _SCOPES[kind]
    param = SCOPE_PARAMS[kind]
    collection = f"/{segment}/{{{param}}}/access/service_tokens"
    for spec in by_specificity(routes, lambda spec: spec.path):
        # Handlers read the container id from the request, so it is declared here.
        extra: dict[str, object] = {"parameters": [_path_param(param), *spec.params]}
        if spec.body:
            extra["requestBody"] = spec.body
        router.add_api_route(
            collection + spec.path,
            spec.handler,
            openapi_extra=extra,
            methods=[spec.method],
            operation_id=f"{op_prefix}-{spec.op}",
            summary=spec.summary,
            status_code=spec.status,
            response_class=Response,
            responses=responses_for(spec.status, spec.model),
        )


router = APIRouter(tags=["Access service tokens"])
for _kind in ContainerKind:
    add_scope(router, _kind)
