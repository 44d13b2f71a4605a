"""The v4 envelope: every response, success or failure, has the same four keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response

from servicetokens.domain.errors import DomainError
from servicetokens.domain.tokens import ServiceToken

if TYPE_CHECKING:
    from servicetokens.usecases.service_tokens import TokenPage

__all__ = [
    "JSONResponse",
    "dumps",
    "failure",
    "failure_body",
    "render_page",
    "serialize_token",
    "success",
    "success_body",
]

_JSON = "application/json"


def dumps(content: Any) -> bytes:
    """An API body as JSON bytes: every envelope the API writes goes through here (the
    certs route writes its JWKS document, which holds no time, with orjson directly).

    Datetimes in it are UTC (`serialize_token` makes sure) and orjson writes them as RFC 3339
    with a `Z` and fractional seconds only when there are any: `format_timestamp`'s text
    (`tests/api/test_envelope.py` holds the two together), without a Python call per
    timestamp (3,000 of them in a page of 1,000 tokens)."""
    return orjson.dumps(content, option=orjson.OPT_UTC_Z)


class JSONResponse(Response):
    """A JSON response rendered with orjson (`dumps`)."""

    media_type = _JSON

    def render(self, content: Any) -> bytes:
        return dumps(content)


def success_body(
    result: object,
    *,
    result_info: Mapping[str, int] | None = None,
    messages: Sequence[Mapping[str, object]] = (),
) -> dict[str, object]:
    """`{"success": true, "errors": [], "messages": [...], "result": ...}` (+ `result_info`).

    The one place the success shape is written; `schemas.py` describes it for OpenAPI and
    `tests/api/test_envelope.py` holds the two together."""
    body: dict[str, object] = {
        "success": True,
        "errors": [],
        "messages": list(messages),
        "result": result,
    }
    if result_info is not None:
        body["result_info"] = result_info
    return body


def failure_body(error: DomainError) -> dict[str, object]:
    """`{"success": false, "errors": [{code, message}], "messages": [], "result": null}`."""
    item: dict[str, object] = {"code": error.code, "message": error.message}
    chain = error.error_chain
    if chain:
        item["error_chain"] = chain
    return {"success": False, "errors": [item], "messages": [], "result": None}


def success(
    result: object,
    *,
    status: int = 200,
    result_info: Mapping[str, int] | None = None,
    messages: Sequence[Mapping[str, object]] = (),
) -> JSONResponse:
    """A success envelope (`success_body`) as a response."""
    body = success_body(result, result_info=result_info, messages=messages)
    return JSONResponse(body, status_code=status)


def failure(error: DomainError, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A failure envelope (`failure_body`) as a response with the error's status and the
    headers it always carries (`DomainError.headers`), plus `headers`."""
    return JSONResponse(
        failure_body(error), status_code=error.status, headers={**error.headers, **(headers or {})}
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def serialize_token(token: ServiceToken, *, secret: str | None = None) -> dict[str, object]:
    """A service token as the API shows it; `client_secret` only when one was just minted.

    Its times are UTC datetimes, for `dumps` to write."""
    previous = token.previous_client_secret_expires_at
    body: dict[str, object] = {
        "id": token.id,
        "name": token.name,
        "client_id": token.client_id,
        "created_at": _utc(token.created_at),
        "updated_at": _utc(token.updated_at),
        "expires_at": _utc(token.expires_at),
        "duration": token.duration,
        "enabled": token.enabled,
        "last_seen_at": None if token.last_seen_at is None else _utc(token.last_seen_at),
        "client_secret_version": token.client_secret_version,
        "previous_client_secret_expires_at": None if previous is None else _utc(previous),
    }
    if secret is not None:
        body["client_secret"] = secret
    return body


def render_page(page: TokenPage) -> bytes:
    """A list response body: the tokens (never a secret) and `result_info`."""
    return dumps(
        success_body(
            [serialize_token(token) for token in page.tokens], result_info=page.info.as_dict()
        )
    )
