"""`create_app(settings)`: the FastAPI application and its error handlers.

One mapping turns every error into the v4 failure envelope: domain errors carry their own
status and code; routing, validation, database and unexpected errors are mapped here.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.responses import Response

from servicetokens import __version__
from servicetokens.api.body import BodySizeLimit
from servicetokens.api.envelope import failure
from servicetokens.api.metrics import ApiMetrics, CacheCounts
from servicetokens.api.observe import Observe
from servicetokens.api.page_memo import ListPages
from servicetokens.api.routes import (
    access_apps,
    access_policies,
    alerting,
    app_policies,
    certs,
    health,
    organizations,
    service_tokens,
    token_verify,
)
from servicetokens.api.routing import allowed_methods
from servicetokens.api.scan_lane import ScanLane
from servicetokens.domain.errors import DomainError, ServiceUnavailable, ValidationError
from servicetokens.domain.network import TrustedProxies
from servicetokens.usecases.audit_retention import AuditPruner
from servicetokens.usecases.background import BackgroundJob
from servicetokens.usecases.facade import UseCases

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/client/v4"
log = logging.getLogger("servicetokens.api")


class NoRoute(DomainError):
    """No route matches (404, code 7000), as Cloudflare answers."""

    status = 404
    code = 7000
    message = "No route for that URI"


class MethodNotAllowed(DomainError):
    """The route exists but not for this method (405, code 10000)."""

    status = 405
    code = 10000

    def __init__(self, method: str) -> None:
        super().__init__(f"{method} method not allowed for this URI")


class InternalError(DomainError):
    """An unexpected failure (500). The details go to the log, never to the client."""

    status = 500
    code = 10001
    message = "Internal server error"


def _install_error_handlers(app: FastAPI) -> None:
    async def domain_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return failure(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            allow = ", ".join(sorted(allowed_methods(request.app, request.url.path)))
            return failure(MethodNotAllowed(request.method), headers={"allow": allow})
        if exc.status_code == 404:
            return failure(NoRoute())
        error = DomainError(str(exc.detail))
        error.status = exc.status_code
        return failure(error)

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return failure(ValidationError(f"{where}: {first.get('msg', 'invalid request')}"))

    async def database_error(_: Request, exc: Exception) -> Response:
        # Only a lost or refused connection (or an exhausted pool) is an outage; anything
        # else the database rejects is a bug or a value we failed to validate: 500, logged.
        if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
            log.warning("database unavailable: %s", type(exc).__name__)
            return failure(ServiceUnavailable(), headers={"retry-after": "1"})
        if isinstance(exc, DataError):
            log.warning("database refused a value: %s", exc)
            return failure(ValidationError("a value is out of range for storage"))
        log.error("database error", exc_info=exc)
        return failure(InternalError())

    async def unexpected_error(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return failure(InternalError())

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(OperationalError, database_error)
    app.add_exception_handler(PoolTimeout, database_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(Exception, unexpected_error)


def _document_security(app: FastAPI) -> None:
    """Declare Cloudflare's credential schemes in the served OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "api_token": {"type": "http", "scheme": "bearer"},
                "api_email": {"type": "apiKey", "in": "header", "name": "X-Auth-Email"},
                "api_key": {"type": "apiKey", "in": "header", "name": "X-Auth-Key"},
            }
            schema["security"] = [{"api_token": []}, {"api_email": [], "api_key": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    service: UseCases,
    *,
    trusted_proxies: TrustedProxies | None = None,
    audit_pruner: AuditPruner | None = None,
    jobs: Sequence[BackgroundJob] = (),
    metrics: bool = True,
    request_log: bool = False,
) -> FastAPI:
    """The management API over the use cases `service`, mounted at `/client/v4`;
    `trusted_proxies` decide which peers' `X-Forwarded-For` names the client (default:
    loopback); `audit_pruner`, when given, prunes the audit log in the background while the
    app runs, and so do the other background `jobs` (e.g. the inactive-token job).
    `metrics`: count requests and serve `/metrics`; `request_log`: one JSON line per
    request with its request id (`api/observe.py`)."""

    scan_lane = ScanLane()
    background = [*([] if audit_pruner is None else [audit_pruner]), *jobs]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.usage.start()  # API tokens' last_used_at, written behind
        service.prepare()  # what search plans are chosen from, read in the background
        for job in background:
            job.start()
        # What is alive now lives as long as the process (modules, the app, its routes):
        # out of the cyclic collector's sight, as in the gate, so a full collection walks
        # only what requests allocate (under get load at 10^6 the collector was ~20 % of
        # the loop's busy time before; docs/performance.md).
        gc.collect()
        gc.freeze()
        yield
        for job in reversed(background):
            await asyncio.to_thread(job.stop)
        await asyncio.to_thread(service.usage.stop)
        scan_lane.close()
        await service.close_async()
        service.close()

    app = FastAPI(
        title="servicetokens",
        version=__version__,
        description="Cloudflare Access service tokens, self-hosted: a v4-compatible API.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.service = service
    app.state.list_pages = pages = ListPages(service.tokens, inline=service.inline_reads)
    app.state.trusted_proxies = proxies = trusted_proxies or TrustedProxies()
    app.state.metrics = None
    if metrics:
        caches: dict[str, CacheCounts] = {
            "principals": service.authentication.principals,
            "list_pages": pages.memo,
        }
        app.state.metrics = ApiMetrics(service.health, caches)
        app.include_router(health.metrics_router)
    app.state.scan_lane = scan_lane
    _document_security(app)
    _install_error_handlers(app)
    app.include_router(service_tokens.router, prefix=API_PREFIX)
    app.include_router(token_verify.router, prefix=API_PREFIX)
    app.include_router(access_policies.router, prefix=API_PREFIX)
    app.include_router(access_apps.router, prefix=API_PREFIX)
    app.include_router(app_policies.router, prefix=API_PREFIX)
    app.include_router(organizations.router, prefix=API_PREFIX)
    app.include_router(alerting.router, prefix=API_PREFIX)
    app.include_router(health.router)
    app.include_router(certs.router)
    app.add_middleware(BodySizeLimit)
    if metrics or request_log:
        app.add_middleware(
            Observe, metrics=app.state.metrics, request_log=request_log, proxies=proxies
        )
    return app
