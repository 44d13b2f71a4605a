"""A gate refuses a previous secret once its grace was ended, and no PUT brings it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from servicetokens.domain.errors import ValidationError
from tests.gate.conftest import GateFactory, Tenant, creds, until


def test_an_ended_grace_is_final_at_the_gate(tenant: Tenant, start_gate: GateFactory) -> None:
    gate = start_gate()
    token, old = tenant.token("leaked")
    new = tenant.rotate(token, datetime.now(UTC) + timedelta(hours=1))
    assert httpx.get(gate, headers=creds(token.client_id, old)).status_code == 200

    tenant.update(token, previous_client_secret_expires_at=datetime.now(UTC) - timedelta(minutes=1))
    # The change feed evicts the cached entry; polled slowly to stay under the failure limit.
    until(
        lambda: httpx.get(gate, headers=creds(token.client_id, old)).status_code == 401,
        within=5.0,
        step=0.25,
    )
    assert tenant.get(token).previous_secret_digest is None
    with pytest.raises(ValidationError, match="previous_client_secret_expires_at"):
        tenant.update(
            token, previous_client_secret_expires_at=datetime.now(UTC) + timedelta(days=1)
        )
    assert httpx.get(gate, headers=creds(token.client_id, old)).status_code == 401
    assert httpx.get(gate, headers=creds(token.client_id, new)).status_code == 200
