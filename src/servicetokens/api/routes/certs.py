"""`GET /cdn-cgi/access/certs`: the gate's JWT signing keys, as Cloudflare publishes them.

The API serves the same keys as every gate (they live in the database), so upstreams can
validate `Cf-Access-Jwt-Assertion` against the API server too. It only reads, through the
read-only `PublishedKeys` use case: the public certificates, never a private key (it holds no
key-encryption key), and it never adds or prunes a key (the gates and `servicetokens keys
rotate` do). A read is reused for a few seconds, so a flood of unauthenticated GETs costs the
database one read per interval.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from servicetokens.usecases.signing_keys import PublishedKeys

__all__ = ["router"]

router = APIRouter(tags=["Access keys"])


@router.get("/cdn-cgi/access/certs", operation_id="access-certs")
async def certs(request: Request) -> Response:
    """The signing keys: `keys` (JWKs), `public_cert` (current) and `public_certs`."""
    state = request.app.state
    published: PublishedKeys | None = getattr(state, "published_keys", None)
    if published is None:
        published = state.published_keys = PublishedKeys(state.service.database)
    if published.due():
        await run_in_threadpool(published.refresh)
    return Response(orjson.dumps(published.document()), media_type="application/json")
