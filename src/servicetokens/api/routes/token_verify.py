"""`GET /user/tokens/verify` and `GET /accounts/{account_id}/tokens/verify`, as on Cloudflare."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from servicetokens.api.auth import ServiceDep, bearer_token
from servicetokens.api.envelope import success
from servicetokens.domain.clock import format_timestamp
from servicetokens.domain.credentials import ApiToken
from servicetokens.domain.errors import AuthenticationError, DomainError
from servicetokens.domain.permissions import ContainerKind
from servicetokens.usecases.authorization import ContainerRef, check_container_id

__all__ = ["router"]

router = APIRouter(tags=["API tokens"])


class MissingAuthorization(DomainError):
    """/tokens/verify called without a Bearer token (400, code 1001)."""

    status = 400
    code = 1001
    message = 'Missing "Authorization" header'


def _status(record: ApiToken, service: ServiceDep) -> str:
    if record.status != "active":
        return "disabled"
    if record.expires_at is not None and service.clock() >= record.expires_at:
        return "expired"
    return "active"


async def _verify(request: Request, service: ServiceDep, account_id: str | None = None) -> Response:
    token = bearer_token(request)
    if token is None:
        raise MissingAuthorization()
    if account_id is not None:
        check_container_id(ContainerRef(ContainerKind.ACCOUNT, account_id, request.url.path))
    verify = service.authentication.verify_api_token
    record = await run_in_threadpool(verify, token, account_id=account_id)
    if record is None:
        raise AuthenticationError()
    result: dict[str, object] = {"id": record.id, "status": _status(record, service)}
    if record.expires_at is not None:
        result["expires_on"] = format_timestamp(record.expires_at)
    message = {"code": 10000, "message": "This API Token is valid and active", "type": None}
    return success(result, messages=[message] if result["status"] == "active" else [])


@router.get("/user/tokens/verify", operation_id="user-api-tokens-verify-token")
async def verify_user_token(request: Request, service: ServiceDep) -> Response:
    """Whether the Bearer token is valid, with its id and status."""
    return await _verify(request, service)


@router.get("/accounts/{account_id}/tokens/verify", operation_id="account-api-tokens-verify-token")
async def verify_account_token(request: Request, service: ServiceDep, account_id: str) -> Response:
    """Same as /user/tokens/verify, for tokens owned by that account only (a grant on the
    account or one of its zones); any other token is answered as an unknown one."""
    return await _verify(request, service, account_id)
