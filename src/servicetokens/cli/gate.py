"""`servicetokens gate`: enforcement in front of HTTP services, in one of two forms.

- Applications (`--account ID [--route HOST=URL ...]`): every self-hosted Access
  application of the account, as the API manages them; each hostname is proxied where its
  route says (forward-auth needs no route).
- A single upstream (`--account ID --upstream URL [--policy any|ID,...]`): every request to
  one upstream, guarded by one implicit application (the form before applications existed).
"""

from __future__ import annotations

from typing import Annotated

import typer

from servicetokens.cli.at_rest import (
    AllowReadableFlag,
    KeyFileOption,
    refuse,
    refuse_readable_database,
    signing_kek,
)
from servicetokens.cli.options import (
    AuditRetentionOption,
    ListenDatabaseOption,
    LogFormatOption,
    TrustedProxyOption,
    trusted_proxies,
)
from servicetokens.cli.output import fail
from servicetokens.gate.settings import gate_default
from servicetokens.usecases.audit_retention import DEFAULT_RETENTION_DAYS

__all__ = ["gate"]

_DEFAULT_TTL = int(gate_default("jwt_ttl").total_seconds())


def _usage(message: str) -> typer.Exit:
    fail(message)
    return typer.Exit(2)


def gate(
    ctx: typer.Context,
    account: Annotated[str, typer.Option("--account", help="Only this account's tokens pass.")],
    route: Annotated[
        list[str] | None,
        typer.Option(
            "--route",
            help="HOST=URL: proxy requests for HOST (a hostname or *.domain) to URL "
            "(repeatable). Serves the account's Access applications.",
        ),
    ] = None,
    upstream: Annotated[
        str | None,
        typer.Option(
            "--upstream",
            help="The single-upstream form: every request goes to URL, guarded by --policy.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8788,
    policy: Annotated[
        str | None,
        typer.Option(
            help="With --upstream: `any` valid token of the account (the default), or "
            "TOKEN_ID,TOKEN_ID,..."
        ),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(help="With --upstream: JWT `aud` (default: derived from account + upstream)."),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option(help="With --upstream: JWT `iss` (default: servicetokens:ACCOUNT)."),
    ] = None,
    token_header: Annotated[
        str | None,
        typer.Option(
            help="With --upstream: single-header mode, the header holding the JSON id + secret "
            "(applications: their read_service_tokens_from_header)."
        ),
    ] = None,
    jwt_ttl: Annotated[
        int | None,
        typer.Option(
            help=f"With --upstream: seconds an issued JWT lives (default {_DEFAULT_TTL}; "
            "applications: their policies' session_duration).",
        ),
    ] = None,
    failure_limit: Annotated[
        int, typer.Option(help="Failed attempts per client id per window (0: no limit).", min=0)
    ] = gate_default("failure_limit"),
    failure_window: Annotated[
        int, typer.Option(help="Seconds the failure limit spans.", min=1)
    ] = int(gate_default("failure_window").total_seconds()),
    cookie: Annotated[
        bool,
        typer.Option(
            "--cookie/--no-cookie",
            help="Offer the JWT as the CF_Authorization cookie (strict Cloudflare sends none; "
            "applications offer it only where their organization is not strict).",
        ),
    ] = gate_default("cookie"),
    audit_retention: AuditRetentionOption = DEFAULT_RETENTION_DAYS,
    trusted_proxy: TrustedProxyOption = None,
    key_file: KeyFileOption = None,
    listen_database: ListenDatabaseOption = None,
    log_format: LogFormatOption = None,
    allow_readable_database: AllowReadableFlag = False,
) -> None:
    """Enforce service tokens in front of HTTP services (reverse proxy and forward-auth):
    the account's Access applications (--route), or one upstream (--upstream)."""
    from dataclasses import replace
    from datetime import timedelta

    import uvicorn

    from servicetokens.bootstrap import build_gate
    from servicetokens.domain.policy import parse_policy
    from servicetokens.gate.routes import parse_route
    from servicetokens.gate.settings import GateSettings
    from servicetokens.signing.kek import KekError

    try:
        database = replace(
            ctx.obj,
            listen_database_url=listen_database or ctx.obj.listen_database_url,
            log_format=(log_format or ctx.obj.log_format).strip().lower(),
        )
    except ValueError as exc:  # an unknown log format
        raise _usage(str(exc)) from None
    refuse_readable_database(database, allow=allow_readable_database)
    if upstream is None:
        single = {
            "--policy": policy,
            "--audience": audience,
            "--issuer": issuer,
            "--token-header": token_header,
            "--jwt-ttl": jwt_ttl,
        }
        given = [flag for flag, value in single.items() if value is not None]
        if given:
            raise _usage(
                f"{', '.join(given)} go with --upstream; applications (--route) carry their "
                "own (policies, aud tag, organization, read_service_tokens_from_header, "
                "session_duration)"
            )
    elif route:
        raise _usage("--route serves the account's applications; --upstream one upstream: not both")
    try:
        routes = tuple(parse_route(text) for text in route or ())
        admitted = None if policy is None else parse_policy(policy)
        settings = GateSettings(
            account_id=account,
            upstream=upstream,
            routes=routes,
            policy=admitted,
            audience=audience or "",
            issuer=issuer or "",
            token_header=token_header,
            jwt_ttl=timedelta(seconds=_DEFAULT_TTL if jwt_ttl is None else jwt_ttl),
            failure_limit=failure_limit,
            failure_window=timedelta(seconds=failure_window),
            cookie=cookie,
            audit_retention_days=audit_retention,
            trusted_proxies=trusted_proxies(trusted_proxy),
            request_log=database.log_format == "json",
        )
    except ValueError as exc:  # a malformed route or policy
        raise _usage(str(exc)) from None
    kek = signing_kek(database, key_file, create=True)
    try:
        gate_app = build_gate(settings, database, kek=kek)
    except ValueError as exc:  # e.g. an upstream URL that is not http(s)://host
        raise _usage(str(exc)) from None
    if not gate_app.verification.account_exists():
        fail(f"no account {account}")
        raise typer.Exit(1)
    try:  # the signing keys load (or are made) now, so a wrong KEK is one clear line
        gate_app.keys.sync()
    except KekError as exc:
        refuse(str(exc))
    if gate_app.access is not None:
        state = gate_app.access.follower.load()
        if state.organization is None:
            fail(
                f"account {account} has no Zero Trust organization: create one first "
                f"(PUT /client/v4/accounts/{account}/access/organizations); its auth_domain "
                "is the issuer of the applications' JWTs"
            )
            raise typer.Exit(1)
        served = f"{state.app_count} applications (control-plane version {state.version}); " + (
            f"routes: {gate_app.routes.describe()}"
            if len(gate_app.routes)
            else "no --route: forward-auth only, nothing is proxied"
        )
    else:
        served = str(upstream)
    typer.echo(f"gate for account {account} on http://{host}:{port} -> {served}", err=True)
    if settings.request_log:
        from servicetokens.json_logs import use_json_logs

        use_json_logs()
    uvicorn.run(
        gate_app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None if settings.request_log else uvicorn.config.LOGGING_CONFIG,
        access_log=False,
        server_header=False,
        date_header=False,  # the upstream's Date passes through
        proxy_headers=False,  # the client address is worked out from --trusted-proxy alone
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
