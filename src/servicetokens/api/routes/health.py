"""`GET /healthz`: liveness for probes, no authentication."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

__all__ = ["router"]

router = APIRouter(tags=["Health"])

_OK = b'{"status":"ok"}'


@router.get("/healthz", operation_id="healthz")
async def healthz() -> Response:
    """200 while the process serves requests."""
    return Response(_OK, media_type="application/json")
