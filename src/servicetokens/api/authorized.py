"""`CanRead` / `CanWrite`: a caller to authorize on the account or zone its path names.

A route declares `caller: CanWrite` and hands its operation to `caller.run(...)`: the use
cases authenticate the credential (`Authentication`), check the container id and the
permission (`Authorization`), then the operation runs with the token use cases
(`ServiceTokens`), all in one trip to the thread pool. The order of checks is the one Cloudflare
answers with (docs/compatibility.md): credential, container id, permission, then the
operation's own validation (body, token id), so a caller without the right learns nothing
more. The scope (account or zone) is read from the path parameter the route declares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from servicetokens.api.auth import CurrentCredential, get_service, origin_of
from servicetokens.domain.credentials import Credential
from servicetokens.domain.permissions import ContainerKind, Permission, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.service_tokens import ServiceTokens

__all__ = ["SCOPE_PARAMS", "Authorized", "CanRead", "CanWrite", "container_ref"]

T = TypeVar("T")

SCOPE_PARAMS = {ContainerKind.ACCOUNT: "account_id", ContainerKind.ZONE: "zone_id"}
"""The path parameter that names the container, per scope."""

Operation = Callable[[ServiceTokens, Principal, ContainerRef], T]


def container_ref(request: Request) -> ContainerRef:
    """The account or zone the request's path names (not yet checked to exist)."""
    params = request.path_params
    for kind, param in SCOPE_PARAMS.items():
        if param in params:
            return ContainerRef(kind, params[param], request.url.path)
    raise LookupError(f"route {request.url.path!r} names no account or zone")  # a routing bug


class Authorized:
    """A credential, the container it asks for and the permission it needs: `run` checks
    them and runs an operation as the authorized principal, in one thread-pool trip."""

    __slots__ = ("_credential", "_need", "_origin", "_service", "ref")

    def __init__(
        self,
        service: UseCases,
        credential: Credential,
        ref: ContainerRef,
        need: Permission,
        origin: str | None,
    ) -> None:
        self._service, self._credential, self.ref = service, credential, ref
        self._need, self._origin = need, origin

    async def run(self, operation: Operation[T]) -> T:
        """`operation(tokens, principal, ref)` once the caller is authorized (or its error)."""
        service, ref = self._service, self.ref

        def authorized() -> T:
            principal = service.authentication.authenticate(self._credential, origin=self._origin)
            service.authorization.require(principal, ref, self._need)
            return operation(service.tokens, principal, ref)

        return await run_in_threadpool(authorized)

    async def call(self, operation: Callable[[UseCases, Principal, ContainerRef], T]) -> T:
        """`operation(use_cases, principal, ref)` once the caller is authorized (or its
        error): for routes served by use cases other than the service tokens'."""
        service, ref = self._service, self.ref

        def authorized() -> T:
            principal = service.authentication.authenticate(self._credential, origin=self._origin)
            service.authorization.require(principal, ref, self._need)
            return operation(service, principal, ref)

        return await run_in_threadpool(authorized)


def _needing(need: Permission) -> Callable[[Request, Credential], Awaitable[Authorized]]:
    async def dependency(request: Request, credential: CurrentCredential) -> Authorized:
        return Authorized(
            get_service(request), credential, container_ref(request), need, origin_of(request)
        )

    return dependency


CanRead = Annotated[Authorized, Depends(_needing(Permission.READ))]
"""The caller, to be authorized for Read on the path's account or zone."""

CanWrite = Annotated[Authorized, Depends(_needing(Permission.WRITE))]
"""The caller, to be authorized for Write on the path's account or zone."""
