"""`usecases.service_tokens`, without a server: the token use cases take an authenticated
principal and check its grant themselves, in the documented order, and the list reports the
container version it was read at."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from servicetokens.domain.credentials import ApiKeyCredential, ApiTokenCredential
from servicetokens.domain.errors import (
    InvalidAccessToken,
    InvalidIdentifier,
    NotFound,
    PermissionDenied,
    UnknownEmailOrKey,
)
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.permissions import ContainerKind, Permission, Principal
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.service_tokens import ListAccess, PendingScan, TokenPage
from tests.clocks import HandClock
from tests.unit.conftest import Tenant, make_tenant

UNKNOWN_TOKEN = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"

Attempt = Callable[[UseCases, Principal, ContainerRef, str], object]

WRITES: dict[str, Attempt] = {
    "create": lambda u, p, ref, _: u.tokens.create(p, ref, TokenFields(name="x")),
    "update": lambda u, p, ref, t: u.tokens.update(p, ref, t, TokenFields(name="y")),
    "delete": lambda u, p, ref, t: u.tokens.delete(p, ref, t),
    "refresh": lambda u, p, ref, t: u.tokens.refresh(p, ref, t),
    "rotate": lambda u, p, ref, t: u.tokens.rotate(p, ref, t, previous_expires_at=None),
}
READS: dict[str, Attempt] = {
    "get": lambda u, p, ref, t: u.tokens.get(p, ref, t),
    "list": lambda u, p, ref, _: u.tokens.read_page(p, ref, ListQuery()),
}


@pytest.mark.parametrize("operation", sorted(WRITES))
def test_a_reader_may_not_write(use_cases: UseCases, tenant: Tenant, operation: str) -> None:
    writer, reader = tenant.principal(tenant.writer), tenant.principal(tenant.reader)
    token, _ = use_cases.tokens.create(writer, tenant.account, TokenFields(name="t"))
    with pytest.raises(PermissionDenied):
        WRITES[operation](use_cases, reader, tenant.account, token.id)
    assert use_cases.tokens.get(reader, tenant.account, token.id) == token  # unchanged


@pytest.mark.parametrize("operation", sorted({**WRITES, **READS}))
def test_another_accounts_principal_is_refused_everything(
    use_cases: UseCases, tenant: Tenant, operation: str
) -> None:
    token, _ = use_cases.tokens.create(
        tenant.principal(tenant.writer), tenant.account, TokenFields(name="t")
    )
    stranger = make_tenant(use_cases)
    attempt = {**WRITES, **READS}[operation]
    for principal in (stranger.principal(stranger.writer), tenant.principal(tenant.zone_writer)):
        with pytest.raises(PermissionDenied):
            attempt(use_cases, principal, tenant.account, token.id)


def test_a_zone_grant_reaches_its_zone_and_an_account_grant_its_zones(
    use_cases: UseCases, tenant: Tenant
) -> None:
    for credential in (tenant.zone_writer, tenant.writer):
        principal = tenant.principal(credential)
        token, _ = use_cases.tokens.create(principal, tenant.zone, TokenFields(name="z"))
        assert use_cases.tokens.get(principal, tenant.zone, token.id) == token


@pytest.mark.parametrize("operation", sorted({**WRITES, **READS}))
def test_the_order_of_checks(use_cases: UseCases, tenant: Tenant, operation: str) -> None:
    attempt = {**WRITES, **READS}[operation]
    writer, reader = tenant.principal(tenant.writer), tenant.principal(tenant.reader)
    malformed = ContainerRef(ContainerKind.ACCOUNT, "XYZ", "/accounts/XYZ")
    unknown = ContainerRef(ContainerKind.ACCOUNT, "0" * 32, "/accounts/" + "0" * 32)
    # The container id before the permission, the permission before the token id.
    with pytest.raises(InvalidIdentifier):
        attempt(use_cases, reader, malformed, "not-a-uuid")
    with pytest.raises(PermissionDenied):  # an unknown account answers like a foreign one
        attempt(use_cases, writer, unknown, "not-a-uuid")
    if operation in WRITES:
        with pytest.raises(PermissionDenied):
            attempt(use_cases, reader, tenant.account, "not-a-uuid")
    if operation not in ("create", "list"):
        for token_id in ("not-a-uuid", UNKNOWN_TOKEN):
            with pytest.raises(NotFound):
                attempt(use_cases, writer, tenant.account, token_id)


def test_the_list_reports_the_version_it_was_read_at(use_cases: UseCases, tenant: Tenant) -> None:
    tokens, writer = use_cases.tokens, tenant.principal(tenant.writer)
    credential = ApiTokenCredential(tenant.reader.secret)
    first = tokens.open_list(credential, tenant.account)
    assert (
        first.version
        == use_cases.database.probe_versions(ContainerKind.ACCOUNT, first.container.id)[0]
    )
    empty = tokens.list_page(first, ListQuery())
    assert isinstance(empty, TokenPage)
    assert (empty.version, empty.tokens, empty.info.total_count) == (first.version, [], 0)
    made, _ = tokens.create(writer, tenant.account, TokenFields(name="n"))
    second = tokens.open_list(credential, tenant.account)
    assert second.version > first.version
    assert second.token_count == 1
    page = tokens.list_page(second, ListQuery())
    assert isinstance(page, TokenPage)
    assert (page.version, page.tokens) == (second.version, [made])
    tokens.refresh(writer, tenant.account, made.id)
    assert tokens.open_list(credential, tenant.account).version > second.version
    assert tokens.read_page(writer, tenant.account, ListQuery()).version > second.version


def test_a_page_that_costs_a_scan_is_handed_back_to_run(
    use_cases: UseCases, tenant: Tenant
) -> None:
    tokens, writer = use_cases.tokens, tenant.principal(tenant.writer)
    for name in ("alpha", "beta"):
        tokens.create(writer, tenant.account, TokenFields(name=name))
    access = tokens.open_list(ApiTokenCredential(tenant.reader.secret), tenant.account)
    for query in (
        ListQuery(name="beta"),
        ListQuery(search="ETA"),
        ListQuery(page=7, per_page=1000),
    ):
        pending = tokens.list_page(access, query)
        assert isinstance(pending, PendingScan)
        assert (pending.container, pending.query) == (access.container, query)
        page = pending.run()
        assert page.version == access.version
        assert [t.name for t in page.tokens] == ([] if query.page == 7 else ["beta"])


def test_open_list_checks_the_credential_first(use_cases: UseCases, tenant: Tenant) -> None:
    tokens = use_cases.tokens
    malformed = ContainerRef(ContainerKind.ACCOUNT, "XYZ", "/accounts/XYZ")
    with pytest.raises(InvalidAccessToken):
        tokens.open_list(ApiTokenCredential("stk_" + "0" * 43), malformed)
    with pytest.raises(UnknownEmailOrKey):
        tokens.open_list(ApiKeyCredential("nobody@example.com", "0" * 64), malformed)
    with pytest.raises(InvalidIdentifier):
        tokens.open_list(ApiTokenCredential(tenant.reader.secret), malformed)
    stranger = make_tenant(use_cases)
    with pytest.raises(PermissionDenied):
        tokens.open_list(ApiTokenCredential(stranger.writer.secret), tenant.account)


def test_open_list_refuses_a_revoked_or_expired_credential_it_had_cached(
    use_cases: UseCases, tenant: Tenant, clock: HandClock
) -> None:
    tokens, admin = use_cases.tokens, use_cases.admin
    short = admin.create_api_token(
        "short",
        scope=ContainerKind.ACCOUNT,
        scope_id=tenant.account.id,
        permission=Permission.READ,
        expires_in=timedelta(seconds=30),
    )
    reader, brief = ApiTokenCredential(tenant.reader.secret), ApiTokenCredential(short.secret)
    for credential in (reader, brief):
        for _ in range(2):  # the second answer comes from the principal cache
            assert tokens.open_list(credential, tenant.account).principal.grants
    clock.advance(timedelta(seconds=30))  # no version moved: the cached entry expires itself
    with pytest.raises(InvalidAccessToken):
        tokens.open_list(brief, tenant.account)
    assert tokens.open_list(reader, tenant.account).principal.grants
    admin.revoke_api_token(tenant.reader.id)
    with pytest.raises(InvalidAccessToken):
        tokens.open_list(reader, tenant.account)


def test_a_list_access_not_made_for_the_caller_reads_nothing(
    use_cases: UseCases, tenant: Tenant
) -> None:
    other = make_tenant(use_cases)
    other_writer = other.principal(other.writer)
    use_cases.tokens.create(other_writer, other.account, TokenFields(name="b-only"))
    mine = use_cases.tokens.open_list(ApiTokenCredential(tenant.reader.secret), tenant.account)
    theirs = use_cases.tokens.open_list(ApiTokenCredential(other.writer.secret), other.account)
    forged = ListAccess(mine.principal, theirs.container, theirs.version, theirs.token_count)
    with pytest.raises(PermissionDenied):
        use_cases.tokens.list_page(forged, ListQuery())
    page = use_cases.tokens.list_page(theirs, ListQuery())
    assert isinstance(page, TokenPage)
    assert [t.name for t in page.tokens] == ["b-only"]
