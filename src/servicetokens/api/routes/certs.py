"""`GET /cdn-cgi/access/certs`: the gate's JWT signing keys, as Cloudflare publishes them.

The API serves the same keys as every gate (they live in the database), so upstreams can
validate `Cf-Access-Jwt-Assertion` against the API server too. It only reads: the public
certificates, never a private key (it holds no key-encryption key), and it never adds or
prunes a key (the gates and `servicetokens keys rotate` do). A read is reused for a few
seconds, so a flood of unauthenticated GETs costs the database one read per interval.
"""

from __future__ import annotations

import time
from datetime import timedelta

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from servicetokens.domain.clock import from_micros, system_clock
from servicetokens.signing import jwks
from servicetokens.store.database import Database

__all__ = ["router"]

router = APIRouter(tags=["Access keys"])

_REREAD_EVERY = 5.0
_OVERLAP = timedelta(days=7)
"""How long a superseded key stays published (the gate's default `key_overlap`)."""


def _read(database: Database, known: dict[str, jwks.PublicKey]) -> list[jwks.PublicKey]:
    with database.read() as tx:
        records = tx.signing_keys.all()
    return [
        known.get(r.kid) or jwks.public_key(r.kid, r.cert_pem, from_micros(r.activates_at))
        for r in records
    ]


@router.get("/cdn-cgi/access/certs", operation_id="access-certs")
async def certs(request: Request) -> Response:
    """The signing keys: `keys` (JWKs), `public_cert` (current) and `public_certs`."""
    state = request.app.state
    keys: list[jwks.PublicKey] | None = getattr(state, "signing_keys", None)
    read_at: float = getattr(state, "signing_keys_read_at", 0.0)
    if keys is None or time.monotonic() - read_at > _REREAD_EVERY:
        known = {k.kid: k for k in keys or []}
        keys = await run_in_threadpool(_read, state.service.database, known)
        state.signing_keys, state.signing_keys_read_at = keys, time.monotonic()
    document = jwks.certs_document(keys, now=system_clock(), overlap=_OVERLAP)
    return Response(orjson.dumps(document), media_type="application/json")
