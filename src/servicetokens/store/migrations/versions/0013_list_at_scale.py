"""The token list at scale: indexes for the lifecycle orders and filters.

`ix_service_tokens_expires` serves `order=expires_at` and the `expires_before` /
`expires_after` filters; `ix_service_tokens_seen` serves `order=last_seen_at` and
`last_seen_before`, on the expression the queries use (`coalesce(last_seen_at, created_at)`:
a never-seen token counts as seen at its creation). Both start with the container, as the
list's own indexes do, so a page of one account or zone is a range scan of its entries, and
a page after another is a seek from where that one ended. The expression index is kept out of
the shared metadata (Alembic does not compare expression indexes); both engines create it
with the same SQL.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_service_tokens_expires",
        "service_tokens",
        ["container_kind", "container_id", "expires_at", "id"],
    )
    op.get_bind().exec_driver_sql(
        "CREATE INDEX ix_service_tokens_seen ON service_tokens "
        "(container_kind, container_id, coalesce(last_seen_at, created_at), id)"
    )


def downgrade() -> None:
    op.drop_index("ix_service_tokens_seen", table_name="service_tokens")
    op.drop_index("ix_service_tokens_expires", table_name="service_tokens")
