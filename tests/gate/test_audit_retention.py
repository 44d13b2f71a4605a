"""A running gate prunes the audit log on its own schedule."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from servicetokens.domain.audit import AuditEntry
from tests.gate.conftest import GateFactory, Tenant, until


def test_the_gate_prunes_old_audit_entries(tenant: Tenant, start_gate: GateFactory) -> None:
    account = secrets.token_hex(16)
    now = datetime.now(UTC)
    with tenant.service.database.write() as tx:
        for days in (400, 366, 364, 1):
            tx.audit.add(
                AuditEntry(
                    at=now - timedelta(days=days),
                    actor_kind="gate",
                    actor_id=account,
                    action="gate.auth_failed",
                    account_id=account,
                    detail={"days": days},
                )
            )

    def ages() -> list[object]:
        entries = tenant.service.admin.audit_log(account_id=account, limit=100)
        return sorted(e.detail["days"] for e in entries)  # type: ignore[type-var]

    url = start_gate(audit_retention_days=365, audit_prune_interval=0.05)
    until(lambda: ages() == [1, 364], within=10.0)
    assert start_gate.apps[url].audit_pruner.deleted >= 2
