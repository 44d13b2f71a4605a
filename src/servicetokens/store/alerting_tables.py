"""The notifications tables (migration 0010), defined on the schema's `MetaData`.

Destinations, policies, the outbox (which is also the history: `next_attempt_at` is NULL
once a row is closed, so the worker's index holds only open rows), the once-per-expiry
markers of the expiring and expired alerts, and the delivery worker's lease (one holder
across every process, renewed while alive, taken over once expired). Webhook secrets are
sent in clear as `cf-webhook-auth`, so they are kept as given; the API never shows them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["alerting_tables"]


def alerting_tables(metadata: MetaData) -> tuple[Table, Table, Table, Table, Table]:
    """`alert_webhooks`, `alert_policies`, `alert_deliveries`, `alert_fired` and
    `worker_leases`, added to `metadata`."""

    alert_webhooks = Table(
        "alert_webhooks",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
        Column("name", Text, nullable=False),
        Column("url", Text, nullable=False),
        Column("secret", Text, nullable=True),
        Column("secret_kek_id", String(16), nullable=True),
        Column("type", String(16), nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("last_success", BigInteger, nullable=True),
        Column("last_failure", BigInteger, nullable=True),
        Index("ix_alert_webhooks_account", "account_id", "created_at", "id"),
    )
    alert_policies = Table(
        "alert_policies",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("account_id", String(32), ForeignKey("accounts.id"), nullable=False),
        Column("alert_type", String(64), nullable=False),
        Column("enabled", Boolean, nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("modified_at", BigInteger, nullable=False),
        Index("ix_alert_policies_account", "account_id", "created_at", "id"),
        Index("ix_alert_policies_type", "alert_type", "enabled", "account_id"),
    )
    alert_deliveries = Table(
        "alert_deliveries",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("account_id", String(32), nullable=False),
        Column("webhook_id", String(32), nullable=False),
        Column("policy_id", String(32), nullable=False),
        Column("policy_name", Text, nullable=False),
        Column("description", Text, nullable=True),
        Column("alert_type", String(64), nullable=False),
        Column("correlation_id", String(32), nullable=False),
        Column("alert_event", String(32), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("status", String(16), nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("next_attempt_at", BigInteger, nullable=True),
        Column("attempts", Integer, nullable=False),
        Column("attempt_log", Text, nullable=False),
        Index("ix_alert_deliveries_due", "next_attempt_at"),
        Index("ix_alert_deliveries_history", "account_id", "created_at", "id"),
        Index("ix_alert_deliveries_webhook", "webhook_id", "next_attempt_at"),
    )
    alert_fired = Table(
        "alert_fired",
        metadata,
        Column("policy_id", String(32), primary_key=True),
        Column("token_id", String(36), primary_key=True),
        Column("expires_at", BigInteger, primary_key=True),
        Column("fired_at", BigInteger, nullable=False),
        Index("ix_alert_fired_fired_at", "fired_at"),
    )
    worker_leases = Table(
        "worker_leases",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("holder", String(64), nullable=False),
        Column("expires_at", BigInteger, nullable=False),
    )
    return alert_webhooks, alert_policies, alert_deliveries, alert_fired, worker_leases
