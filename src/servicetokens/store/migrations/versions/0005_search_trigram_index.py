"""PostgreSQL: a trigram index for `search` (case-insensitive substring of name or client id).

`search_key` holds the case-folded name and the client id; `LIKE '%text%'` on it uses a
pg_trgm GIN index instead of reading every row of the container. SQLite has no portable
equivalent that survives VACUUM (FTS5 external content is keyed by rowids VACUUM may
renumber), so there `search` reads the container's rows (see docs/performance.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it. Where
    # that is refused, search still works, by reading rows; the upgrade must not fail for it.
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError:
        savepoint.rollback()
        log.warning("pg_trgm is not available: search will scan the container's tokens")
        return
    savepoint.commit()
    bind.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_service_tokens_search_trgm "
        "ON service_tokens USING gin (search_key gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_service_tokens_search_trgm")
