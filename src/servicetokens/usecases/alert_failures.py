"""`servicetokens_auth_failures`: a known client id keeps failing authentication.

Gates record each failed attempt on a recognised token as an audit entry, written behind
in batches (`last_seen.py`). That same transaction calls `auth_failure_alerts`: for each
token with failures in the batch whose account has an enabled policy of this type, it
counts the token's failures in the last `AUTH_FAILURE_WINDOW` (across every gate: they all
write to the audit log) and, at `AUTH_FAILURE_THRESHOLD` or more, queues the alert in the
outbox — at most once per token per window (a marker in `alert_fired`). The alert commits
with the entries that caused it, or neither does.
"""

from __future__ import annotations

from collections.abc import Sequence

from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.notifications.alert_types import (
    AUTH_FAILURE_THRESHOLD,
    AUTH_FAILURE_WINDOW,
    AUTH_FAILURES,
)
from servicetokens.domain.notifications.payloads import auth_failures_event
from servicetokens.store.database import Transaction
from servicetokens.usecases.alert_outbox import queue_event

__all__ = ["FAILED_ACTION", "auth_failure_alerts"]

FAILED_ACTION = "gate.auth_failed"
"""The audit action of a failed attempt on a recognised token (`verification.py`)."""


def auth_failure_alerts(tx: Transaction, entries: Sequence[AuditEntry]) -> int:
    """Queue `servicetokens_auth_failures` for the tokens whose failures (`entries`, just
    added in `tx`) reach the threshold; how many deliveries were queued."""
    latest: dict[str, AuditEntry] = {}
    for entry in entries:
        if entry.action != FAILED_ACTION or entry.target is None or entry.account_id is None:
            continue
        seen = latest.get(entry.target)
        if seen is None or seen.at <= entry.at:
            latest[entry.target] = entry
    if not latest:
        return 0
    policies = {
        account: tx.alert_policies.enabled_for(account, AUTH_FAILURES)
        for account in {e.account_id for e in latest.values() if e.account_id is not None}
    }
    queued = 0
    for token_id, entry in sorted(latest.items()):
        account = entry.account_id
        if account is None or not policies.get(account):
            continue
        since = entry.at - AUTH_FAILURE_WINDOW
        if tx.alert_state.fired_since(AUTH_FAILURES, token_id, since):
            continue
        failures = tx.audit.count_since(account, FAILED_ACTION, token_id, since)
        if failures < AUTH_FAILURE_THRESHOLD:
            continue
        token = tx.tokens.by_client_id(str(entry.detail.get("client_id", entry.actor_id)))
        if token is None or token.id != token_id:
            continue  # deleted since
        reason = str(entry.detail.get("reason", ""))[:200]
        event = auth_failures_event(
            token, failures=failures, window=AUTH_FAILURE_WINDOW, reason=reason, now=entry.at
        )
        queued += queue_event(tx, event, now=entry.at, policies=policies[account])
        tx.alert_state.mark_token(AUTH_FAILURES, token_id, now=entry.at)
    return queued
