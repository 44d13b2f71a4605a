"""`servicetokens audit list|prune`, and printing the audit log: JSON lines with --json, a
Rich table otherwise.

Every cell holds values from requests (token names, client ids, addresses), so each is
`output.plain` text: Rich never reads markup (`[red]`, `[/]`, `[link=...]`) in it, and no
control character reaches the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Table

from servicetokens.cli.common import JsonFlag, admin_for, refusals, service_for
from servicetokens.cli.output import console, emit, plain
from servicetokens.config import Settings
from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.clock import format_timestamp
from servicetokens.usecases.audit_retention import MAX_RETENTION_DAYS

__all__ = ["audit_app", "print_audit"]

audit_app = typer.Typer(
    help="The audit log (mutations and failed gate attempts).", no_args_is_help=True
)


def _as_dict(entry: AuditEntry) -> dict[str, object]:
    return {
        "at": format_timestamp(entry.at),
        "account_id": entry.account_id,
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "target": entry.target,
        "origin": entry.origin,
        "detail": dict(entry.detail),
    }


def print_audit(entries: Sequence[AuditEntry], *, as_json: bool) -> None:
    """One JSON object per line (--json), or a table."""
    if as_json:
        for entry in entries:
            print(json.dumps(_as_dict(entry), sort_keys=True))
        return
    table = Table(title=f"audit log ({len(entries)} entries)")
    for column in ("at", "action", "actor", "origin", "target", "detail"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            *(
                plain(cell)
                for cell in (
                    format_timestamp(entry.at),
                    entry.action,
                    f"{entry.actor_kind}:{entry.actor_id}",
                    entry.origin or "",
                    entry.target or "",
                    json.dumps(dict(entry.detail), sort_keys=True),
                )
            )
        )
    console.print(table)


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's entries.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only entries at or after this RFC 3339 time.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many (the newest).")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Show the audit log, oldest first."""
    from servicetokens.domain.fields import parse_timestamp

    with refusals(exit_code=2):
        moment = None if since is None else parse_timestamp(since, field="--since")
    entries = admin_for(ctx).audit_log(account_id=account, since=moment, limit=limit)
    print_audit(entries, as_json=as_json)


@audit_app.command("prune")
def audit_prune(
    ctx: typer.Context,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=1,
            max=MAX_RETENTION_DAYS,
            help="Delete entries older than this many days (default: the audit retention).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete old audit entries now (gates and API servers also do it hourly)."""
    from servicetokens.usecases.audit_retention import prune_audit

    settings: Settings = ctx.obj
    days = settings.audit_retention_days if older_than is None else older_than
    service = service_for(ctx)
    deleted = prune_audit(service.database, retention_days=days)
    service.close()
    emit({"deleted": deleted, "older_than_days": days}, as_json=as_json, title="audit log")
