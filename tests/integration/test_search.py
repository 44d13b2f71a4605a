"""`search` gives exactly the case-insensitive substring matches, whatever index serves it."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servicetokens.domain.fields import TokenFields
from servicetokens.domain.paging import parse_list_query
from servicetokens.domain.permissions import ContainerKind
from servicetokens.service import ContainerRef, Service
from tests.conftest import make_world

NAMES = [
    "Straße-Runner",
    "deploy*bot",
    "deploy?bot",
    "deploy[bot]",
    "100%_literal",
    "ÉCOLE nightly",
    "backup",
    "Backup-2",
    "svc-000042",
    "svc-0000420",
]


def _search(service: Service, principal: object, ref: ContainerRef, term: str) -> list[str]:
    with service.repository.read() as tx:
        container = tx.container(ref.kind, ref.id)
        assert container is not None
        tokens, total = tx.list_tokens(
            container, parse_list_query(name=None, search=term, page=None, per_page="1000")
        )
    assert total == len(tokens)
    return [t.name for t in tokens]


def _expected(term: str, tokens: list[tuple[str, str]]) -> list[str]:
    folded = term.casefold()
    return [name for name, client_id in tokens if folded in name.casefold() or folded in client_id]


def test_search_matches_substrings_exactly(service: Service) -> None:
    world = make_world(service)
    principal = service.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    created = [service.create_token(principal, ref, TokenFields(name=n))[0] for n in NAMES]
    pairs = [(t.name, t.client_id) for t in created]
    terms = [
        "ss",
        "STRASSE",
        "*bot",
        "?",
        "[bot]",
        "t]",
        "%_",
        "école",
        "backup",
        "svc-000042",
        "0420",
        created[3].client_id[5:20],
        "zzz-no-match",
        "e",
    ]
    for term in terms:
        assert _search(service, principal, ref, term) == _expected(term, pairs), term


def test_search_follows_renames_and_deletes(service: Service) -> None:
    world = make_world(service)
    principal = service.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    token, _ = service.create_token(principal, ref, TokenFields(name="original-name"))
    assert _search(service, principal, ref, "original") == ["original-name"]
    service.update_token(principal, ref, token.id, TokenFields(name="renamed-thing"))
    assert _search(service, principal, ref, "original") == []
    assert _search(service, principal, ref, "renamed") == ["renamed-thing"]
    service.rotate_token(principal, ref, token.id, previous_expires_at=None)
    assert _search(service, principal, ref, "renamed") == ["renamed-thing"]
    service.delete_token(principal, ref, token.id)
    assert _search(service, principal, ref, "renamed") == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.text(alphabet=string.ascii_letters + "*?[]%_-ßé", min_size=1, max_size=12),
        min_size=1,
        max_size=6,
    ),
    term=st.text(alphabet=string.ascii_letters + "*?[]%_-ßé", min_size=1, max_size=5),
)
def test_search_agrees_with_python(service: Service, names: list[str], term: str) -> None:
    world = make_world(service)
    principal = service.principal_for_api_token(world.write_a)
    ref = ContainerRef(ContainerKind.ACCOUNT, world.account_a, "/")
    created = [service.create_token(principal, ref, TokenFields(name=n))[0] for n in names]
    pairs = [(t.name, t.client_id) for t in created]
    assert _search(service, principal, ref, term) == _expected(term, pairs)
