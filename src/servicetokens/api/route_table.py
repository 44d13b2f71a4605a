"""Route tables of the control-plane resources, registered once per scope.

A resource module lists its operations as `Route`s (method, path under the collection,
operation id after the scope's prefix, summary, handler, OpenAPI extras) and `register`s
them under `/accounts/{account_id}/…` and, where Cloudflare has it, `/zones/{zone_id}/…`,
most specific path first (`routing.by_specificity`), exactly as the service-token routes
are. Handlers read the account or zone id from the request, so the path parameter is
declared here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from servicetokens.api.authorized import SCOPE_PARAMS
from servicetokens.api.envelope import success
from servicetokens.api.routing import by_specificity
from servicetokens.api.schemas import responses_for
from servicetokens.domain.paging import PageInfo
from servicetokens.domain.permissions import ContainerKind

__all__ = [
    "PAGE_PARAMS",
    "Route",
    "page_response",
    "query_param",
    "register",
]


def query_param(name: str, description: str, schema: dict[str, object]) -> dict[str, object]:
    """An optional query parameter, for the served OpenAPI document."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


PAGE_PARAMS = (
    query_param("page", "Page number, from 1.", {"type": "integer", "minimum": 1, "default": 1}),
    query_param(
        "per_page",
        "Items per page (larger values are clamped to 1000).",
        {"type": "integer", "minimum": 1, "default": 1000},
    ),
)


@dataclass(frozen=True)
class Route:
    """One operation: `path` is relative to the resource's collection, `op` the operation
    id after the scope's prefix."""

    method: str
    path: str
    op: str
    summary: str
    handler: Callable[..., Awaitable[Response]]
    model: type[BaseModel]
    status: int = 200
    params: tuple[dict[str, object], ...] = ()
    body: dict[str, object] | None = None


def register(
    router: APIRouter,
    kind: ContainerKind,
    *,
    collection: str,
    op_prefix: str,
    routes: Sequence[Route],
    area: str = "access",
) -> None:
    """Add `routes` under `/{accounts|zones}/{id}/<area>/<collection>` (`area` `access`, or
    `alerting/v3`), most specific first; operation ids are `<op_prefix>-<op>` (zone scope:
    prefixed `zone-level-`). Ids further down the path are the handlers' own parameters
    (FastAPI declares them)."""
    segment = "accounts" if kind is ContainerKind.ACCOUNT else "zones"
    param = SCOPE_PARAMS[kind]
    base = f"/{segment}/{{{param}}}/{area}/{collection}".rstrip("/")
    prefix = op_prefix if kind is ContainerKind.ACCOUNT else f"zone-level-{op_prefix}"
    container = {
        "name": param,
        "in": "path",
        "required": True,
        "description": "32 lowercase hex digits.",
        "schema": {"type": "string", "maxLength": 32},
    }
    for spec in by_specificity(routes, lambda spec: spec.path):
        extra: dict[str, object] = {"parameters": [container, *spec.params]}
        if spec.body:
            extra["requestBody"] = spec.body
        router.add_api_route(
            base + spec.path,
            spec.handler,
            openapi_extra=extra,
            methods=[spec.method],
            operation_id=f"{prefix}-{spec.op}",
            summary=spec.summary,
            status_code=spec.status,
            response_class=Response,
            responses=responses_for(spec.status, spec.model),
        )


def page_response(items: list[dict[str, object]], info: PageInfo) -> Response:
    """A list page: the items and `result_info`."""
    return success(items, result_info=info.as_dict())
