"""`servicetokens notifications test` and `servicetokens tokens expiring`: the operator's
side of notifications, for people and for scripts and cron (`--json`).

Token names, URLs and receivers' error texts come from users or from the network, so every
table cell is `output.plain` text and every error goes through `fail` (markup-escaped).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from servicetokens.cli.common import JsonFlag, refusals, service_for
from servicetokens.cli.output import console, emit, fail, plain
from servicetokens.domain.clock import format_timestamp
from servicetokens.domain.durations import DurationError, parse_go_duration
from servicetokens.domain.notifications.payloads import EXPIRY_LEAD
from servicetokens.domain.permissions import ContainerKind
from servicetokens.domain.tokens import ServiceToken

__all__ = ["notifications_app", "tokens_app"]

notifications_app = typer.Typer(
    help="Notifications (webhook destinations and their alerts).", no_args_is_help=True
)
tokens_app = typer.Typer(help="Service tokens (an operator's queries).", no_args_is_help=True)

AccountOption = Annotated[str, typer.Option("--account", help="The account's id.")]


@notifications_app.command("test")
def notifications_test(
    ctx: typer.Context,
    destination_id: Annotated[str, typer.Argument(help="The webhook destination's id.")],
    account: AccountOption,
    as_json: JsonFlag = False,
) -> None:
    """Send the test message to a webhook destination now and print how it answered;
    exits 1 unless it answered 2xx. Loopback and private receivers need
    SERVICETOKENS_ALLOW_PRIVATE_WEBHOOKS=1, as `serve --allow-private-webhooks` does."""
    service = service_for(ctx)
    try:
        with refusals():
            webhook, result = service.webhooks.test_as_operator(destination_id, account_id=account)
    finally:
        service.close()
    delivered = result.status is not None and 200 <= result.status < 300
    emit(
        {
            "id": webhook.id,
            "name": webhook.name,
            "url": webhook.url,
            "delivered": delivered,
            "status": result.status,
            "latency_ms": result.latency_ms,
            "error": result.refused or result.error,
        },
        as_json=as_json,
        title="test message",
    )
    if not delivered:
        raise typer.Exit(1)


def _window(within: str) -> timedelta:
    try:
        ns = parse_go_duration(within)
        if ns <= 0:
            raise DurationError("must be positive")
    except DurationError as exc:
        fail(f"--within: {exc} (a Go duration such as 24h or 168h)")
        raise typer.Exit(2) from None
    return timedelta(microseconds=ns // 1_000)


def _summary(token: ServiceToken) -> dict[str, object]:
    zone = token.container.id if token.container.kind is ContainerKind.ZONE else None
    return {
        "id": token.id,
        "name": token.name,
        "client_id": token.client_id,
        "expires_at": format_timestamp(token.expires_at),
        "enabled": token.enabled,
        "zone_id": zone,
    }


@tokens_app.command("expiring")
def tokens_expiring(
    ctx: typer.Context,
    account: AccountOption,
    within: Annotated[
        str,
        typer.Option(help="How far ahead to look, a Go duration (e.g. 24h, 720h)."),
    ] = f"{int(EXPIRY_LEAD.total_seconds()) // 3600}h",
    as_json: JsonFlag = False,
) -> None:
    """The account's service tokens (its own and its zones') that expire within the
    window, soonest first; exits 0 whether or not there are any."""
    window = _window(within)
    service = service_for(ctx)
    try:
        with refusals():
            tokens = service.expiring.within(account, window)
    finally:
        service.close()
    summaries = [_summary(token) for token in tokens]
    if as_json:
        print(json.dumps({"account_id": account, "within": within, "tokens": summaries}))
        return
    table = Table(title=f"service tokens expiring within {within} ({len(summaries)})")
    columns = ("expires_at", "name", "id", "client_id", "enabled", "zone_id")
    for column in columns:
        table.add_column(column, overflow="fold")
    for summary in summaries:
        table.add_row(*(plain("" if summary[c] is None else summary[c]) for c in columns))
    console.print(table)
