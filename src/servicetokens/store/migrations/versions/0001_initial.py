"""Initial schema: accounts, zones, users, API tokens and service tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.String(32)),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_zones"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_zones_account_id_accounts"
        ),
    )
    op.create_index("ix_zones_account_id", "zones", ["account_id"])
    op.create_table(
        "users",
        sa.Column("email", sa.String(254)),
        sa.Column("api_key_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("email", name="pk_users"),
        sa.UniqueConstraint("api_key_digest", name="uq_users_api_key_digest"),
    )
    op.create_table(
        "memberships",
        sa.Column("email", sa.String(254)),
        sa.Column("account_id", sa.String(32)),
        sa.PrimaryKeyConstraint("email", "account_id", name="pk_memberships"),
        sa.ForeignKeyConstraint(["email"], ["users.email"], name="fk_memberships_email_users"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_memberships_account_id_accounts"
        ),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("token_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("scope_kind", sa.String(8), nullable=False),
        sa.Column("scope_id", sa.String(32), nullable=False),
        sa.Column("permission", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_digest", name="uq_api_tokens_token_digest"),
    )
    op.create_table(
        "service_tokens",
        sa.Column("id", sa.String(36)),
        sa.Column("container_kind", sa.String(8), nullable=False),
        sa.Column("container_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("search_key", sa.Text, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("secret_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("client_secret_version", sa.BigInteger, nullable=False),
        sa.Column("previous_secret_digest", sa.LargeBinary(32), nullable=True),
        sa.Column("previous_client_secret_expires_at", sa.BigInteger, nullable=True),
        sa.Column("duration", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_service_tokens"),
        sa.UniqueConstraint("client_id", name="uq_service_tokens_client_id"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_service_tokens_account_id_accounts"
        ),
    )
    op.create_index(
        "ix_service_tokens_list",
        "service_tokens",
        ["container_kind", "container_id", "created_at", "id"],
    )
    op.create_index(
        "ix_service_tokens_name",
        "service_tokens",
        ["container_kind", "container_id", "name", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("service_tokens")
    op.drop_table("api_tokens")
    op.drop_table("memberships")
    op.drop_table("users")
    op.drop_index("ix_zones_account_id", table_name="zones")
    op.drop_table("zones")
    op.drop_table("accounts")
