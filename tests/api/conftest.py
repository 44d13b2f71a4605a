"""API tests drive the ASGI app over HTTP semantics with Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.usecases.facade import UseCases


@pytest.fixture
def client(service: UseCases) -> Iterator[TestClient]:
    """A client of the management API (server errors become 500 responses, not raises)."""
    with TestClient(
        create_app(service), raise_server_exceptions=False, client=("127.0.0.1", 50000)
    ) as test_client:
        yield test_client
