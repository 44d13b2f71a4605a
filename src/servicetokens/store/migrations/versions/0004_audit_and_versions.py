"""Audit log, and per-container versions (response caches) with token counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("account_id", sa.String(32), nullable=True),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(254), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(64), nullable=True),
        sa.Column("origin", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_account_id_at", "audit_log", ["account_id", "at"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "container_versions",
        sa.Column("container_kind", sa.String(16)),
        sa.Column("container_id", sa.String(32)),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("token_count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("container_kind", "container_id", name="pk_container_versions"),
    )
    # Existing databases: start every container's count from what is stored.
    op.execute(
        "INSERT INTO container_versions (container_kind, container_id, version, token_count) "
        "SELECT container_kind, container_id, 1, COUNT(*) FROM service_tokens "
        "GROUP BY container_kind, container_id"
    )


def downgrade() -> None:
    op.drop_table("container_versions")
    op.drop_table("audit_log")
