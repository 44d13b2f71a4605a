"""`servicetokens api-tokens ...` and `servicetokens users ...`: the management API's
credentials, made, listed and taken back. A token or key is printed once, when it is made;
nothing prints one again."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from servicetokens.cli.common import JsonFlag, admin_for, refusals, service_for
from servicetokens.cli.output import console, emit, fail
from servicetokens.domain.clock import format_timestamp
from servicetokens.domain.credentials import ApiToken
from servicetokens.domain.durations import FOREVER, DurationError, parse_token_duration
from servicetokens.domain.permissions import ContainerKind, Permission

__all__ = ["api_token_summary", "api_tokens_app", "users_app"]

api_tokens_app = typer.Typer(help="API tokens for the management API.", no_args_is_help=True)
users_app = typer.Typer(help="Users (X-Auth-Email + X-Auth-Key).", no_args_is_help=True)

AccountOption = Annotated[str, typer.Option("--account", help="The account's id.")]


def _one_scope(account: str | None, zone: str | None) -> None:
    if account is not None and zone is not None:
        fail("give at most one of --account and --zone")
        raise typer.Exit(2)


def _lifetime(expires_in: str | None) -> timedelta | None:
    if expires_in is None:
        return None
    try:
        if expires_in == FOREVER:
            raise DurationError("omit --expires-in for a token that never expires")
        lifetime = parse_token_duration(expires_in)
    except DurationError as exc:
        fail(f"--expires-in: {exc} (a Go duration such as 90s, 12h or 720h)")
        raise typer.Exit(2) from None
    assert lifetime is not None
    return lifetime


def api_token_summary(record: ApiToken) -> dict[str, object]:
    """What `api-tokens list --json` prints for one token (never the token itself)."""
    return {
        "id": record.id,
        "name": record.name,
        "scope": f"{record.scope.value}/{record.scope_id}",
        "permission": record.permission.group_name,
        "created_at": None if record.created_at is None else format_timestamp(record.created_at),
        "last_used_at": (
            None if record.last_used_at is None else format_timestamp(record.last_used_at)
        ),
        "expires_at": None if record.expires_at is None else format_timestamp(record.expires_at),
        "revoked": record.status != "active",
    }


@api_tokens_app.command("create")
def api_tokens_create(
    ctx: typer.Context,
    name: str,
    permission: Annotated[str, typer.Option(help="read or write.")],
    account: Annotated[str | None, typer.Option(help="Grant on this account.")] = None,
    zone: Annotated[str | None, typer.Option(help="Grant on this zone.")] = None,
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in",
            help="Refuse the token after this Go duration (e.g. 720h); default: never.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API token (Access: Service Tokens Read/Write); prints it once."""
    if (account is None) == (zone is None):
        fail("give exactly one of --account and --zone")
        raise typer.Exit(2)
    try:
        level = Permission.parse(permission)
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None
    lifetime = _lifetime(expires_in)
    scope, scope_id = (
        (ContainerKind.ACCOUNT, account) if account else (ContainerKind.ZONE, zone or "")
    )
    with refusals():
        credential = admin_for(ctx).create_api_token(
            name, scope=scope, scope_id=scope_id, permission=level, expires_in=lifetime
        )
    expires_at = credential.expires_at
    emit(
        {
            "id": credential.id,
            "token": credential.secret,
            "permission": level.group_name,
            "expires_at": None if expires_at is None else format_timestamp(expires_at),
        },
        as_json=as_json,
        title="API token (shown once)",
    )


@api_tokens_app.command("list")
def api_tokens_list(
    ctx: typer.Context,
    account: Annotated[
        str | None, typer.Option(help="Only this account's (on it or any of its zones).")
    ] = None,
    zone: Annotated[str | None, typer.Option(help="Only those on this zone.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List API tokens, oldest first: id, name, scope, permission, times, revoked."""
    _one_scope(account, zone)
    with refusals():
        records = admin_for(ctx).list_api_tokens(account_id=account, zone_id=zone)
    summaries = [api_token_summary(record) for record in records]
    if as_json:
        emit({"api_tokens": summaries}, as_json=True, title="API tokens")
        return
    table = Table(title=f"API tokens ({len(summaries)})")
    columns = ("id", "name", "scope", "permission", "created_at", "last_used_at", "expires_at")
    for column in (*columns, "revoked"):
        table.add_column(column, overflow="fold")
    for summary in summaries:
        # Names are operator text: markup in one must print as written, not style the table.
        cells = [escape(str(summary[c] or "")) for c in columns]
        table.add_row(*cells, "yes" if summary["revoked"] else "no")
    console.print(table)


@api_tokens_app.command("revoke")
def api_tokens_revoke(ctx: typer.Context, token_id: str, as_json: JsonFlag = False) -> None:
    """Revoke an API token by id (refused on its next use, in every process)."""
    with refusals():
        admin_for(ctx).revoke_api_token(token_id)
    emit({"id": token_id, "status": "revoked"}, as_json=as_json, title="API token")


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    email: str,
    account: Annotated[str, typer.Option("--account", help="Account the user belongs to.")],
    as_json: JsonFlag = False,
) -> None:
    """Create a user with a global API key (X-Auth-Key); prints the key once."""
    with refusals():
        credential = admin_for(ctx).create_user(email, account_id=account)
    emit(
        {"email": credential.id, "api_key": credential.secret},
        as_json=as_json,
        title="user (key shown once)",
    )


@users_app.command("set-password")
def users_set_password(ctx: typer.Context, email: str) -> None:
    """Set a user's dashboard password, read from stdin (or asked for twice on a terminal);
    every dashboard session they had ends."""
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    with refusals():
        service_for(ctx).people.set_password(email, password)
    console.print(f"password set for {escape(email.strip().lower())}")


@users_app.command("end-sessions")
def users_end_sessions(ctx: typer.Context, email: str, as_json: JsonFlag = False) -> None:
    """End every dashboard session of a user (a stolen laptop, a departing person); their
    password, key and memberships stay. Prints how many sessions ended."""
    with refusals():
        ended = admin_for(ctx).end_user_sessions(email)
    emit(
        {"email": email.strip().lower(), "sessions_ended": ended},
        as_json=as_json,
        title="dashboard sessions ended",
    )


@users_app.command("rotate-key")
def users_rotate_key(
    ctx: typer.Context, email: str, account: AccountOption, as_json: JsonFlag = False
) -> None:
    """Give a member of the account a new global API key; the old one stops working at once.
    Prints the new key once."""
    with refusals():
        credential = admin_for(ctx).rotate_user_key(email, account_id=account)
    emit(
        {"email": credential.id, "api_key": credential.secret},
        as_json=as_json,
        title="user (new key shown once)",
    )


@users_app.command("add-account")
def users_add_account(
    ctx: typer.Context, email: str, account: AccountOption, as_json: JsonFlag = False
) -> None:
    """Make an existing user a member of another account too (same key and password)."""
    with refusals():
        admin_for(ctx).add_user_to_account(email, account_id=account)
    emit(
        {"email": email.strip().lower(), "account_id": account, "member": True},
        as_json=as_json,
        title="user added to account",
    )


@users_app.command("remove")
def users_remove(
    ctx: typer.Context, email: str, account: AccountOption, as_json: JsonFlag = False
) -> None:
    """Remove a user from an account; a user left in no account is deleted with their key."""
    with refusals():
        deleted = admin_for(ctx).remove_user(email, account_id=account)
    emit(
        {"email": email.strip().lower(), "account_id": account, "user_deleted": deleted},
        as_json=as_json,
        title="user removed",
    )
