"""A feed of service-token writes, for cache eviction across processes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("container_kind", sa.String(8), nullable=False),
        sa.Column("container_id", sa.String(32), nullable=False),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_token_changes"),
    )
    op.create_index("ix_token_changes_changed_at", "token_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_table("token_changes")
