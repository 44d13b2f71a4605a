"""Request bodies: a hard size cap enforced while bytes arrive, and strict JSON decoding."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicetokens.api.envelope import failure
from servicetokens.domain.errors import PayloadTooLarge, ValidationError

__all__ = ["MAX_BODY_BYTES", "BodySizeLimit", "decode_json"]

MAX_BODY_BYTES = 1024 * 1024


class BodySizeLimit:
    """Refuse bodies over the cap with 413: at once when Content-Length says so, otherwise
    as soon as the streamed bytes pass it (the handler then sees `PayloadTooLarge`)."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                response = failure(PayloadTooLarge(self.limit), headers={"connection": "close"})
                await response(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise PayloadTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)


def decode_json(raw: bytes) -> object | None:
    """The decoded JSON body, or None for an empty one (SDKs send none on refresh/delete)."""
    if not raw.strip():
        return None
    try:
        decoded: object = orjson.loads(raw)
        return decoded
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the request body is not valid JSON ({exc})") from None
