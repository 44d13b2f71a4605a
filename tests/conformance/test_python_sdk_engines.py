"""The service-token scenario with the official Python SDK (PyPI ``cloudflare``) on every
engine a deployment may run: SQLite, PostgreSQL, and PostgreSQL through a PgBouncer in
transaction mode (`engine_server`). The SQLite server of `test_python_sdk.py` covers each
operation in depth; this walks the whole lifecycle once per engine, past the fifth run of
each statement on a connection (where psycopg would prepare it on the server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from cloudflare import Cloudflare, NotFoundError

from tests.conformance.test_python_sdk import collect

if TYPE_CHECKING:
    from tests.conformance.conftest import LiveServer


@pytest.fixture
def sdk(engine_server: LiveServer) -> Iterator[Cloudflare]:
    with Cloudflare(
        api_token=engine_server.write_token, base_url=engine_server.base_url, max_retries=0
    ) as client:
        yield client


def test_token_lifecycle(sdk: Cloudflare, engine_server: LiveServer, unique_name: str) -> None:
    tokens, account = sdk.zero_trust.access.service_tokens, engine_server.account_id
    made = []
    for n in range(12):
        token = tokens.create(account_id=account, name=f"{unique_name}-{n:02d}", duration="24h")
        assert token is not None
        assert token.id is not None
        assert token.client_secret
        made.append(token.id)
    listed = [
        t.id for t in collect(tokens.list(account_id=account, search=unique_name, per_page=5))
    ]
    assert sorted(listed) == sorted(made)
    for token_id in made:
        got = tokens.get(token_id, account_id=account)
        assert got is not None
        assert got.id == token_id
    first = made[0]
    updated = tokens.update(first, account_id=account, name=f"{unique_name}-renamed")
    assert updated is not None
    assert updated.name == f"{unique_name}-renamed"
    rotated = tokens.rotate(first, account_id=account)
    assert rotated is not None
    assert rotated.client_secret
    refreshed = tokens.refresh(first, account_id=account)
    assert refreshed is not None
    assert refreshed.id == first
    for token_id in made:
        deleted = tokens.delete(token_id, account_id=account)
        assert deleted is not None
        assert deleted.id == token_id
    with pytest.raises(NotFoundError):
        tokens.get(first, account_id=account)
    assert collect(tokens.list(account_id=account, search=unique_name)) == []
