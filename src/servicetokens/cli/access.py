"""`servicetokens policies ...` and `servicetokens apps ...`: enough of the Access control
plane to set up a gate without an SDK. The commands run the API's use cases as the operator
(Write on the account or zone named), so they validate, audit and bump the control-plane
version exactly as the API does.

A rule (`--include`, `--require`, `--exclude`) is `everyone`, `any_valid_service_token`,
`service_token=<token id>`, `ip=<CIDR>`, or any rule as a JSON object
(`'{"email": {"email": "a@example.com"}}'`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from servicetokens.cli.common import JsonFlag, refusals, service_for
from servicetokens.cli.output import console, emit, fail, plain
from servicetokens.domain.access.listing import AppFilter
from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.permissions import ContainerKind, Principal
from servicetokens.usecases.access_common import PolicyView
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases

__all__ = ["app_summary", "apps_app", "parse_rule", "policies_app", "policy_summary"]

policies_app = typer.Typer(help="Reusable Access policies of an account.", no_args_is_help=True)
apps_app = typer.Typer(help="Self-hosted Access applications.", no_args_is_help=True)

T = TypeVar("T")

AccountOption = Annotated[str, typer.Option("--account", help="The account's id.")]
RuleOption = Annotated[
    list[str] | None,
    typer.Option(
        help="A rule (repeatable): everyone, any_valid_service_token, "
        "service_token=ID, ip=CIDR, or a JSON object."
    ),
]


def parse_rule(text: str) -> dict[str, object]:
    """A rule from its command-line spelling (see the module's docstring); ValueError if
    it is none of them."""
    text = text.strip()
    if text in ("everyone", "any_valid_service_token", "certificate"):
        return {text: {}}
    name, equals, value = text.partition("=")
    if equals and name == "service_token":
        return {"service_token": {"token_id": value.strip()}}
    if equals and name == "ip":
        return {"ip": {"ip": value.strip()}}
    if text.startswith("{"):
        try:
            rule = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON rule: {exc}") from None
        if isinstance(rule, dict):
            return rule
    raise ValueError(
        f"{text!r} is not a rule: use everyone, any_valid_service_token, service_token=ID, "
        "ip=CIDR or a JSON object"
    )


def _rules(values: list[str] | None, option: str) -> list[dict[str, object]]:
    try:
        return [parse_rule(value) for value in values or []]
    except ValueError as exc:
        fail(f"{option}: {exc}")
        raise typer.Exit(2) from None


def _scope(account: str | None, zone: str | None) -> tuple[ContainerKind, str]:
    if (account is None) == (zone is None):
        fail("give exactly one of --account and --zone")
        raise typer.Exit(2)
    return (ContainerKind.ACCOUNT, account) if account else (ContainerKind.ZONE, zone or "")


def _as_operator(
    ctx: typer.Context,
    kind: ContainerKind,
    container_id: str,
    run: Callable[[UseCases, Principal, ContainerRef], T],
) -> T:
    service = service_for(ctx)
    try:
        with refusals():
            principal, ref = service.admin.operator_on(kind, container_id)
            return run(service, principal, ref)
    finally:
        service.close()


def _every(read: Callable[[ListQuery], list[T]]) -> Iterator[T]:
    page = 1
    while items := read(ListQuery(page=page, per_page=1000)):
        yield from items
        page += 1


def policy_summary(view: PolicyView) -> dict[str, object]:
    """A policy as the commands print it."""
    policy = view.policy
    return {
        "id": policy.id,
        "name": policy.fields.name,
        "decision": policy.fields.decision.value,
        "include": policy.fields.include,
        "require": policy.fields.require,
        "exclude": policy.fields.exclude,
        "session_duration": policy.fields.session_duration,
        "app_count": view.app_count,
    }


def app_summary(expanded: AppWithPolicies) -> dict[str, object]:
    """An application as the commands print it."""
    app = expanded.app
    return {
        "id": app.id,
        "name": app.fields.name,
        "domain": app.fields.domain,
        "hosts": app.fields.hosts,
        "aud": app.aud,
        "scope": f"{app.container.kind.value}/{app.container.id}",
        "policies": [
            {
                "id": linked.policy.id,
                "name": linked.policy.fields.name,
                "decision": linked.policy.fields.decision.value,
                "precedence": linked.precedence,
                "reusable": linked.policy.reusable,
            }
            for linked in expanded.policies
        ],
    }


def _table(title: str, rows: list[dict[str, object]], columns: tuple[str, ...]) -> None:
    table = Table(title=f"{title} ({len(rows)})")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            *(plain(json.dumps(row[c]) if isinstance(row[c], list) else row[c]) for c in columns)
        )
    console.print(table)


@policies_app.command("list")
def policies_list(ctx: typer.Context, account: AccountOption, as_json: JsonFlag = False) -> None:
    """List the account's reusable policies, oldest first."""

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> list[dict[str, object]]:
        pages = _every(lambda q: service.policies.read_page(principal, ref, q).policies)
        return [policy_summary(view) for view in pages]

    rows = _as_operator(ctx, ContainerKind.ACCOUNT, account, run)
    if as_json:
        emit({"policies": rows}, as_json=True, title="policies")
        return
    _table("Policies", rows, ("id", "name", "decision", "include", "app_count"))


@policies_app.command("create")
def policies_create(
    ctx: typer.Context,
    name: str,
    account: AccountOption,
    decision: Annotated[
        str, typer.Option(help="non_identity (Service Auth), bypass, allow or deny.")
    ] = "non_identity",
    include: RuleOption = None,
    require: RuleOption = None,
    exclude: RuleOption = None,
    session_duration: Annotated[
        str | None, typer.Option("--session-duration", help="JWT lifetime, e.g. 24h.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a reusable policy; prints it."""
    body: dict[str, object] = {
        "name": name,
        "decision": decision,
        "include": _rules(include, "--include"),
        "require": _rules(require, "--require"),
        "exclude": _rules(exclude, "--exclude"),
    }
    if session_duration is not None:
        body["session_duration"] = session_duration

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> dict[str, object]:
        return policy_summary(service.policies.create(principal, ref, body))

    emit(_as_operator(ctx, ContainerKind.ACCOUNT, account, run), as_json=as_json, title="policy")


@policies_app.command("delete")
def policies_delete(
    ctx: typer.Context, policy_id: str, account: AccountOption, as_json: JsonFlag = False
) -> None:
    """Delete a reusable policy (refused while an application uses it)."""

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> str:
        return service.policies.delete(principal, ref, policy_id).id

    deleted = _as_operator(ctx, ContainerKind.ACCOUNT, account, run)
    emit({"id": deleted, "deleted": True}, as_json=as_json, title="policy")


@apps_app.command("list")
def apps_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="The account's applications.")] = None,
    zone: Annotated[str | None, typer.Option(help="The zone's applications.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the account's (or zone's) applications, oldest first, with their policies."""
    kind, container_id = _scope(account, zone)

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> list[dict[str, object]]:
        pages = _every(
            lambda q: service.applications.read_page(principal, ref, AppFilter(), q).apps
        )
        return [app_summary(expanded) for expanded in pages]

    rows = _as_operator(ctx, kind, container_id, run)
    if as_json:
        emit({"apps": rows}, as_json=True, title="applications")
        return
    _table("Applications", rows, ("id", "name", "hosts", "aud", "policies"))


@apps_app.command("create")
def apps_create(
    ctx: typer.Context,
    domain: Annotated[str, typer.Argument(help="Hostname and optional path, e.g. app.example.com")],
    account: Annotated[str | None, typer.Option(help="Create it in this account.")] = None,
    zone: Annotated[str | None, typer.Option(help="Create it in this zone.")] = None,
    name: Annotated[str | None, typer.Option(help="Default: the domain.")] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(help="A reusable policy's id (repeatable; first runs first)."),
    ] = None,
    destination: Annotated[
        list[str] | None,
        typer.Option(help="Another public hostname[/path] it protects (repeatable)."),
    ] = None,
    service_auth_401_redirect: Annotated[
        bool, typer.Option("--service-auth-401-redirect", help="401, not a login redirect.")
    ] = False,
    read_service_tokens_from_header: Annotated[
        str | None,
        typer.Option("--read-service-tokens-from-header", help="Single-header token mode."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a self-hosted application; prints it with its aud tag."""
    kind, container_id = _scope(account, zone)
    body: dict[str, object] = {
        "type": "self_hosted",
        "domain": domain,
        "policies": list(policy or []),
        "service_auth_401_redirect": service_auth_401_redirect,
    }
    if destination:
        uris = [domain, *destination]
        body["destinations"] = [{"type": "public", "uri": uri} for uri in uris]
    if name is not None:
        body["name"] = name
    if read_service_tokens_from_header is not None:
        body["read_service_tokens_from_header"] = read_service_tokens_from_header

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> dict[str, object]:
        return app_summary(service.applications.create(principal, ref, body))

    emit(_as_operator(ctx, kind, container_id, run), as_json=as_json, title="application")


@apps_app.command("delete")
def apps_delete(
    ctx: typer.Context,
    app_id: str,
    account: Annotated[str | None, typer.Option(help="The account it belongs to.")] = None,
    zone: Annotated[str | None, typer.Option(help="The zone it belongs to.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete an application, with its own policies."""
    kind, container_id = _scope(account, zone)

    def run(service: UseCases, principal: Principal, ref: ContainerRef) -> str:
        return service.applications.delete(principal, ref, app_id).id

    deleted = _as_operator(ctx, kind, container_id, run)
    emit({"id": deleted, "deleted": True}, as_json=as_json, title="application")
