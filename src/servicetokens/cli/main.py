"""`servicetokens` commands. `--database URL` is global and comes before the command."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Annotated

import typer

from servicetokens.cli.access import apps_app, policies_app
from servicetokens.cli.at_rest import AllowReadableFlag, refuse_readable_database
from servicetokens.cli.audit import audit_app
from servicetokens.cli.common import JsonFlag, admin_for
from servicetokens.cli.common import refusals as _refusals
from servicetokens.cli.common import service_for as _service
from servicetokens.cli.credentials import api_tokens_app, users_app
from servicetokens.cli.gate import gate
from servicetokens.cli.keys import keys_app
from servicetokens.cli.notifications import notifications_app, tokens_app
from servicetokens.cli.options import (
    AuditRetentionOption,
    LogFormatOption,
    TrustedProxyOption,
    trusted_proxies,
)
from servicetokens.cli.output import emit, fail
from servicetokens.cli.welcome import print_welcome
from servicetokens.config import DATABASE_ENV, JOBS_INTERVAL_ENV, TRANSACTION_POOLER_ENV, Settings
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.usecases.audit_retention import DEFAULT_RETENTION_DAYS
from servicetokens.usecases.inactivity import DEFAULT_JOBS_INTERVAL

__all__ = ["app", "main"]

app = typer.Typer(
    name="servicetokens",
    help="Self-hosted Cloudflare Access service tokens: the v4 API, the gate, and admin.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
accounts_app = typer.Typer(help="Accounts (containers of service tokens).", no_args_is_help=True)
zones_app = typer.Typer(help="Zones (belong to an account).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(zones_app, name="zones")
app.add_typer(api_tokens_app, name="api-tokens")
app.add_typer(users_app, name="users")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(policies_app, name="policies")
app.add_typer(apps_app, name="apps")
app.add_typer(tokens_app, name="tokens")
app.add_typer(notifications_app, name="notifications")
app.command()(gate)


@app.callback()
def _global(
    ctx: typer.Context,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            envvar=DATABASE_ENV,
            help="sqlite:///PATH or postgresql://user@host:port/db (default ./servicetokens.db).",
        ),
    ] = None,
    transaction_pooler: Annotated[
        bool,
        typer.Option(
            "--transaction-pooler",
            envvar=TRANSACTION_POOLER_ENV,
            help="PostgreSQL is reached through a pooler in transaction mode (PgBouncer): "
            "no server-side prepared statements or startup options; gates LISTEN only on "
            "--listen-database.",
        ),
    ] = False,
) -> None:
    try:
        settings = Settings(database_url=database) if database else Settings()
        if transaction_pooler:
            settings = replace(settings, transaction_pooler=True)
    except ValueError as exc:  # a malformed SERVICETOKENS_* variable
        fail(str(exc))
        raise typer.Exit(2) from None
    ctx.obj = settings


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    audit_retention: AuditRetentionOption = DEFAULT_RETENTION_DAYS,
    trusted_proxy: TrustedProxyOption = None,
    jobs_interval: Annotated[
        float,
        typer.Option(
            envvar=JOBS_INTERVAL_ENV,
            min=0.01,
            max=86_400,
            help="Seconds between runs of background jobs (inactive service tokens).",
        ),
    ] = DEFAULT_JOBS_INTERVAL,
    log_format: LogFormatOption = None,
    metrics: Annotated[
        bool | None,
        typer.Option(
            "--metrics/--no-metrics",
            help="Count requests and serve Prometheus metrics at /metrics (default: on).",
        ),
    ] = None,
    allow_readable_database: AllowReadableFlag = False,
    allow_private_webhooks: Annotated[
        bool,
        typer.Option(
            "--allow-private-webhooks",
            help="Let webhook destinations reach loopback, private and link-local addresses "
            "and any port (tests, internal receivers).",
        ),
    ] = False,
) -> None:
    """Run the management API (migrates the database; creates a first account if none)."""
    settings: Settings = ctx.obj
    proxies = trusted_proxies(trusted_proxy)
    try:
        served = replace(
            settings,
            audit_retention_days=audit_retention,
            trusted_proxies=proxies,
            jobs_interval=jobs_interval,
            log_format=(log_format or settings.log_format).strip().lower(),
            metrics=settings.metrics if metrics is None else metrics,
            allow_private_webhooks=allow_private_webhooks or settings.allow_private_webhooks,
        )
    except ValueError as exc:  # an unknown log format
        fail(str(exc))
        raise typer.Exit(2) from None
    refuse_readable_database(settings, allow=allow_readable_database)
    service = _service(ctx)
    if not service.admin.any_account():
        account_id = service.admin.create_account("default")
        credential = service.admin.create_api_token(
            "bootstrap",
            scope=ContainerKind.ACCOUNT,
            scope_id=account_id,
            permission=Permission.WRITE,
        )
        admin = service.people.create_admin(account_id)
        print_welcome(
            host=host,
            port=port,
            account_id=account_id,
            token=credential.secret,
            email=admin.id,
            password=admin.secret,
        )
    service.close()
    # uvicorn's workers import `bootstrap:build_api` afresh: the settings travel to them
    # as the environment `Settings()` reads (one mapping, both ways: config.py).
    os.environ.update(served.as_environment())
    sys.stdout.flush()
    # Replace this process by a plain uvicorn: the server (and, with several workers, its
    # supervisor) then holds only what serving needs, not the CLI, Rich and this bootstrap.
    os.execv(  # noqa: S606 - the same interpreter, fixed arguments
        sys.executable,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "servicetokens.bootstrap:build_api",
            "--factory",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "info",
            "--no-access-log",
            "--no-server-header",
            # The client address is worked out by the app from --trusted-proxy alone.
            "--no-proxy-headers",
        ],
    )


@accounts_app.command("create")
def accounts_create(ctx: typer.Context, name: str, as_json: JsonFlag = False) -> None:
    """Create an account; prints its id."""
    account_id = admin_for(ctx).create_account(name)
    emit({"id": account_id, "name": name}, as_json=as_json, title="account")


@zones_app.command("create")
def zones_create(
    ctx: typer.Context,
    name: str,
    account: Annotated[str, typer.Option("--account", help="The owning account's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Create a zone in an account; prints its id."""
    with _refusals():
        zone_id = admin_for(ctx).create_zone(name, account_id=account)
    emit({"id": zone_id, "name": name, "account_id": account}, as_json=as_json, title="zone")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Create or migrate the schema to the newest revision."""
    from servicetokens.bootstrap import upgrade_database

    emit({"revision": upgrade_database(ctx.obj)}, as_json=as_json, title="database")


def main() -> None:
    """Entry point of the `servicetokens` script."""
    app()
