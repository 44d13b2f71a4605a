"""Options that `serve` and `gate` share: audit retention and trusted proxies."""

from __future__ import annotations

from typing import Annotated

import typer

from servicetokens.cli.output import fail
from servicetokens.config import LISTEN_DATABASE_ENV, LOG_FORMAT_ENV
from servicetokens.usecases.audit_retention import AUDIT_RETENTION_ENV, MAX_RETENTION_DAYS

__all__ = [
    "AuditRetentionOption",
    "ListenDatabaseOption",
    "LogFormatOption",
    "TrustedProxyOption",
    "trusted_proxies",
]

AuditRetentionOption = Annotated[
    int,
    typer.Option(
        "--audit-retention",
        envvar=AUDIT_RETENTION_ENV,
        min=0,
        max=MAX_RETENTION_DAYS,
        help="Days of audit log kept; older entries are pruned hourly (0: keep forever).",
    ),
]
TrustedProxyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-proxy",
        help="CIDR of a proxy whose X-Forwarded-For/-Proto/-Host are believed (repeatable; "
        "default: loopback, 127.0.0.0/8 and ::1; `none` trusts nobody).",
    ),
]

LogFormatOption = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        envvar=LOG_FORMAT_ENV,
        help="`text` (default) or `json`: one JSON object per line, one per request with "
        "its request id.",
    ),
]
ListenDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--listen-database",
        envvar=LISTEN_DATABASE_ENV,
        help="A direct postgresql:// URL to LISTEN for changes on, when --database goes "
        "through a pooler in transaction mode (default: the database itself; behind "
        "--transaction-pooler, none: changes are polled).",
    ),
]


def trusted_proxies(values: list[str] | None) -> tuple[str, ...]:
    """The --trusted-proxy values, checked (exit 2 on a malformed CIDR)."""
    from servicetokens.domain.network import DEFAULT_TRUSTED_PROXIES, TrustedProxies

    chosen = tuple(values) if values else DEFAULT_TRUSTED_PROXIES
    try:
        TrustedProxies(chosen)
    except ValueError as exc:
        fail(f"--trusted-proxy: {exc}")
        raise typer.Exit(2) from None
    return chosen
