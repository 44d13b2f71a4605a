"""`GET /cdn-cgi/access/certs`: the gate's JWT signing keys, as Cloudflare publishes them.

The API serves the same keys as every gate (they live in the database), so upstreams can
validate `Cf-Access-Jwt-Assertion` against the API server too. Keys are re-read (and
rotated when due) at most once a minute.
"""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from servicetokens.gate.keys import KeyRing, KeySchedule

__all__ = ["router"]

router = APIRouter(tags=["Access keys"])

_REFRESH_EVERY = 60.0


@router.get("/cdn-cgi/access/certs", operation_id="access-certs")
async def certs(request: Request) -> Response:
    """The signing keys: `keys` (JWKs), `public_cert` (current) and `public_certs`."""
    state = request.app.state
    ring: KeyRing | None = getattr(state, "signing_keys", None)
    synced: float = getattr(state, "signing_keys_synced", 0.0)
    if ring is None:
        ring = state.signing_keys = KeyRing(state.service.repository, schedule=KeySchedule())
    if time.monotonic() - synced > _REFRESH_EVERY:
        await run_in_threadpool(ring.sync)
        state.signing_keys_synced = time.monotonic()
    return Response(orjson.dumps(ring.certs_document()), media_type="application/json")
