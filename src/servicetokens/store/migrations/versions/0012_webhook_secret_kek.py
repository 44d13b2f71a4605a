"""Webhook secrets at rest: `alert_webhooks.secret_kek_id` names the key-encryption key a
destination's secret is sealed under. A row with a secret and no KEK id holds it as 0010
stored it (plain text); the API seals such rows when it starts
(`usecases/webhook_secrets.py`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_webhooks") as batch:
        batch.add_column(sa.Column("secret_kek_id", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_webhooks") as batch:
        batch.drop_column("secret_kek_id")
