"""Response shapes for the served OpenAPI document (documentation and contract tests).

Handlers render responses with orjson directly (see envelope.py); these models describe
exactly what they render, so schemathesis can hold the server to its own document.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "CreateInput",
    "Failure",
    "ResultInfo",
    "RotateInput",
    "ServiceTokenEnvelope",
    "ServiceTokenListEnvelope",
    "ServiceTokenUpdateEnvelope",
    "ServiceTokenWithSecretEnvelope",
    "Success",
    "TokenInput",
    "request_body",
    "responses_for",
]


class Message(BaseModel):
    """An error or message item."""

    code: int = Field(ge=1000)
    message: str
    error_chain: list[Message] | None = None
    type: None = None


class ServiceToken(BaseModel):
    """A service token; never its secret."""

    id: str = Field(description="UUID of the token.")
    name: str = Field(max_length=350)
    client_id: str = Field(description="32 hex digits + `.access`; sent as CF-Access-Client-Id.")
    created_at: str = Field(description="RFC 3339, UTC.")
    updated_at: str
    expires_at: str
    duration: str = Field(description="A Go duration such as `8760h`, or `forever`.")
    enabled: bool
    last_seen_at: str | None = Field(description="Last successful authentication at a gate.")
    client_secret_version: int = Field(ge=1)
    previous_client_secret_expires_at: str | None


class ServiceTokenWithSecret(ServiceToken):
    """A token as create and rotate return it: with the secret, shown only this once."""

    client_secret: str = Field(description="64 hex digits; sent as CF-Access-Client-Secret.")


class MaybeSecret(ServiceToken):
    """An update result: carries `client_secret` only when the version was raised."""

    client_secret: str | None = None


class TokenInput(BaseModel):
    """Create (name required) and update (all optional) bodies; unknown fields are ignored."""

    name: str | None = Field(default=None, min_length=1, max_length=350)
    duration: str | None = Field(
        default=None, description="Go duration (`300ms`, `2h45m`) or `forever`; default 8760h."
    )
    client_secret_version: int | None = Field(default=None, ge=1)
    previous_client_secret_expires_at: str | None = Field(
        default=None, description="RFC 3339; without an offset it is taken as UTC."
    )
    enabled: bool | None = None


class CreateInput(TokenInput):
    """Create body."""

    name: str = Field(min_length=1, max_length=350)


class RotateInput(BaseModel):
    """Rotate body (optional)."""

    previous_client_secret_expires_at: str | None = Field(
        default=None, description="Until when the old secret still works; default now."
    )


def request_body(model: type[BaseModel], *, required: bool) -> dict[str, object]:
    """An OpenAPI `requestBody` for a handler that reads the raw body itself."""
    return {
        "required": required,
        "content": {"application/json": {"schema": model.model_json_schema()}},
    }


class ResultInfo(BaseModel):
    """Paging facts of a list response."""

    page: int
    per_page: int
    count: int = Field(description="Items on this page.")
    total_count: int = Field(description="Items matching the filters.")
    total_pages: int


class _Success(BaseModel):
    success: Literal[True]
    errors: list[Message]
    messages: list[Message]


Success = _Success
"""The success envelope's fixed part; a response model adds its `result`."""


class ServiceTokenEnvelope(_Success):
    """A single token."""

    result: ServiceToken


class ServiceTokenUpdateEnvelope(_Success):
    """An updated token."""

    result: MaybeSecret


class ServiceTokenWithSecretEnvelope(_Success):
    """A token with its new secret."""

    result: ServiceTokenWithSecret


class ServiceTokenListEnvelope(_Success):
    """One page of tokens."""

    result: list[ServiceToken]
    result_info: ResultInfo


class Failure(BaseModel):
    """Every error: `success: false`, at least one error item, `result: null`."""

    success: Literal[False]
    errors: list[Message] = Field(min_length=1)
    messages: list[Message]
    result: None


_FAILURES: dict[int | str, dict[str, object]] = {
    "4XX": {"model": Failure, "description": "Cloudflare v4 failure envelope."},
    "5XX": {"model": Failure, "description": "Database unavailable (503) or internal error."},
}


def responses_for(status: int, model: type[BaseModel]) -> dict[int | str, dict[str, object]]:
    """The `responses` mapping of a route: its success model and the failure envelope."""
    return {status: {"model": model, "description": "Success"}, **_FAILURES}
