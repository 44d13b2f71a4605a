"""The Access control plane: policies (reusable and app-scoped) and the service tokens they
name, self-hosted applications with their policy links and claimed hostnames, and
organizations.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=f"fk_{table}_account_id_accounts"
    )


def upgrade() -> None:
    op.create_table(
        "access_policies",
        sa.Column("id", sa.String(36)),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("container_kind", sa.String(8), nullable=False),
        sa.Column("container_id", sa.String(32), nullable=False),
        sa.Column("app_id", sa.String(36), nullable=True),
        sa.Column("precedence", sa.BigInteger, nullable=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_policies"),
        _account_fk("access_policies"),
    )
    op.create_index(
        "ix_access_policies_account",
        "access_policies",
        ["account_id", "app_id", "created_at", "id"],
    )
    op.create_index("ix_access_policies_app", "access_policies", ["app_id", "precedence"])
    op.create_table(
        "access_policy_tokens",
        sa.Column("policy_id", sa.String(36)),
        sa.Column("token_id", sa.String(36)),
        sa.PrimaryKeyConstraint("policy_id", "token_id", name="pk_access_policy_tokens"),
    )
    op.create_index("ix_access_policy_tokens_token_id", "access_policy_tokens", ["token_id"])
    op.create_table(
        "access_applications",
        sa.Column("id", sa.String(36)),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("container_kind", sa.String(8), nullable=False),
        sa.Column("container_id", sa.String(32), nullable=False),
        sa.Column("aud", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("tokens_revoked_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_applications"),
        sa.UniqueConstraint("aud", name="uq_access_applications_aud"),
        _account_fk("access_applications"),
    )
    op.create_index(
        "ix_access_applications_list",
        "access_applications",
        ["container_kind", "container_id", "created_at", "id"],
    )
    op.create_index(
        "ix_access_applications_account",
        "access_applications",
        ["account_id", "created_at", "id"],
    )
    op.create_table(
        "access_app_links",
        sa.Column("app_id", sa.String(36)),
        sa.Column("policy_id", sa.String(36)),
        sa.Column("precedence", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("app_id", "policy_id", name="pk_access_app_links"),
    )
    op.create_index("ix_access_app_links_policy_id", "access_app_links", ["policy_id"])
    op.create_table(
        "access_app_claims",
        sa.Column("account_id", sa.String(32)),
        sa.Column("claim", sa.Text),
        sa.Column("app_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "claim", name="pk_access_app_claims"),
    )
    op.create_index("ix_access_app_claims_app_id", "access_app_claims", ["app_id"])
    op.create_table(
        "access_organizations",
        sa.Column("container_kind", sa.String(8)),
        sa.Column("container_id", sa.String(32)),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("auth_domain", sa.String(253), nullable=False),
        sa.Column("strict_locked", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("container_kind", "container_id", name="pk_access_organizations"),
        sa.UniqueConstraint("auth_domain", name="uq_access_organizations_auth_domain"),
        _account_fk("access_organizations"),
    )


def downgrade() -> None:
    for table in (
        "access_organizations",
        "access_app_claims",
        "access_app_links",
        "access_applications",
        "access_policy_tokens",
        "access_policies",
    ):
        op.drop_table(table)
    op.execute("DELETE FROM container_versions WHERE container_kind = 'control_plane'")
