"""API tokens: when each was last used (`servicetokens api-tokens list`).

Written behind by the API processes (see `servicetokens.usecases.usage`), never on the request path.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: a plain ALTER TABLE ... ADD COLUMN on both engines
    # (no table rewrite on SQLite, a catalog-only change on PostgreSQL).
    op.add_column("api_tokens", sa.Column("last_used_at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
