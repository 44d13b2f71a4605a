"""Notifications: webhook destinations, notification policies, the delivery outbox (also
the history), once-per-expiry alert markers, the delivery worker's lease, and an index of
every account's tokens by expiry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=f"fk_{table}_account_id_accounts"
    )


def upgrade() -> None:
    op.create_index(
        "ix_service_tokens_account_expiry", "service_tokens", ["account_id", "expires_at"]
    )
    op.create_table(
        "alert_webhooks",
        sa.Column("id", sa.String(32)),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_success", sa.BigInteger, nullable=True),
        sa.Column("last_failure", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_webhooks"),
        _account_fk("alert_webhooks"),
    )
    op.create_index(
        "ix_alert_webhooks_account", "alert_webhooks", ["account_id", "created_at", "id"]
    )
    op.create_table(
        "alert_policies",
        sa.Column("id", sa.String(32)),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("alert_type", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("modified_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_policies"),
        _account_fk("alert_policies"),
    )
    op.create_index(
        "ix_alert_policies_account", "alert_policies", ["account_id", "created_at", "id"]
    )
    op.create_index(
        "ix_alert_policies_type", "alert_policies", ["alert_type", "enabled", "account_id"]
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.String(32)),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("webhook_id", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.String(32), nullable=False),
        sa.Column("policy_name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("alert_type", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(32), nullable=False),
        sa.Column("alert_event", sa.String(32), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("attempt_log", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["next_attempt_at"])
    op.create_index(
        "ix_alert_deliveries_history", "alert_deliveries", ["account_id", "created_at", "id"]
    )
    op.create_index(
        "ix_alert_deliveries_webhook", "alert_deliveries", ["webhook_id", "next_attempt_at"]
    )
    op.create_table(
        "alert_fired",
        sa.Column("policy_id", sa.String(32)),
        sa.Column("token_id", sa.String(36)),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("fired_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("policy_id", "token_id", "expires_at", name="pk_alert_fired"),
    )
    op.create_index("ix_alert_fired_fired_at", "alert_fired", ["fired_at"])
    op.create_table(
        "worker_leases",
        sa.Column("name", sa.String(64)),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_worker_leases"),
    )


def downgrade() -> None:
    for table in (
        "worker_leases",
        "alert_fired",
        "alert_deliveries",
        "alert_policies",
        "alert_webhooks",
    ):
        op.drop_table(table)
    op.drop_index("ix_service_tokens_account_expiry", table_name="service_tokens")
