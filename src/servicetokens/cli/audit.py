"""Printing the audit log: JSON lines with --json, a Rich table otherwise.

Every cell holds values from requests (token names, client ids, addresses), so each is
`output.plain` text: Rich never reads markup (`[red]`, `[/]`, `[link=...]`) in it, and no
control character reaches the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.table import Table

from servicetokens.cli.output import console, plain
from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.clock import format_timestamp

__all__ = ["print_audit"]


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
