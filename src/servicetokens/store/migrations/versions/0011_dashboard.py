"""The dashboard: users' password hashes, server-side sessions, and sign-in throttling.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: a plain ADD COLUMN on both engines.
    op.add_column("users", sa.Column("password_hash", sa.Text, nullable=True))
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_digest", sa.LargeBinary(32)),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("idle_expires_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("pending_token_id", sa.String(36), nullable=True),
        sa.Column("pending_secret", sa.Text, nullable=True),
        sa.Column("pending_until", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id_digest", name="pk_dashboard_sessions"),
        sa.ForeignKeyConstraint(
            ["email"], ["users.email"], name="fk_dashboard_sessions_email_users"
        ),
    )
    op.create_index("ix_dashboard_sessions_email", "dashboard_sessions", ["email"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(128)),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_started_at", sa.BigInteger, nullable=False),
        sa.Column("blocked_until", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_login_throttle"),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_index("ix_dashboard_sessions_email", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_hash")
