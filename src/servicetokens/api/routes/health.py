"""Probes and metrics, no authentication: `GET /healthz` (liveness: the process serves),
`GET /readyz` (readiness: the database answers; 503 while it does not) and, when metrics
are on, `GET /metrics` (Prometheus, `api/metrics.py`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from servicetokens.api.metrics import CONTENT_TYPE

__all__ = ["metrics_router", "router"]

router = APIRouter(tags=["Health"])
metrics_router = APIRouter(tags=["Health"])

_OK = b'{"status":"ok"}'
_UNAVAILABLE = b'{"status":"database unavailable"}'


@router.get("/healthz", operation_id="healthz")
async def healthz() -> Response:
    """200 while the process serves requests."""
    return Response(_OK, media_type="application/json")


@router.get("/readyz", operation_id="readyz")
async def readyz(request: Request) -> Response:
    """200 while the database answers a read, else 503 (take this process out of the load
    balancer; it recovers by itself)."""
    if await request.app.state.service.health.ready():
        return Response(_OK, media_type="application/json")
    return Response(
        _UNAVAILABLE, status_code=503, media_type="application/json", headers={"retry-after": "1"}
    )


@metrics_router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """The process's metrics in Prometheus's text format."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
