"""SQLite: a trigram full-text index for `search`.

`search` is a case-insensitive substring match on the name and client id (`search_key`,
already case-folded). SQLite's FTS5 trigram tokenizer answers `GLOB '*text*'` from an index.
FTS5 addresses rows by integer rowid, and VACUUM may renumber the rowids of a table without
an INTEGER PRIMARY KEY (service_tokens is keyed by its UUID), so the index is keyed by
`search_rows`, whose INTEGER PRIMARY KEY is stable, and kept in step by triggers.
PostgreSQL has its own trigram index (0005).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_UPGRADE = [
    "CREATE TABLE search_rows (rowid INTEGER PRIMARY KEY, token_id TEXT NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE service_tokens_search "
    "USING fts5(search_key, tokenize = 'trigram case_sensitive 1')",
    """CREATE TRIGGER service_tokens_search_insert AFTER INSERT ON service_tokens BEGIN
        INSERT INTO search_rows (token_id) VALUES (new.id);
        INSERT INTO service_tokens_search (rowid, search_key)
            VALUES (last_insert_rowid(), new.search_key);
    END""",
    """CREATE TRIGGER service_tokens_search_delete AFTER DELETE ON service_tokens BEGIN
        DELETE FROM service_tokens_search
            WHERE rowid = (SELECT rowid FROM search_rows WHERE token_id = old.id);
        DELETE FROM search_rows WHERE token_id = old.id;
    END""",
    """CREATE TRIGGER service_tokens_search_update AFTER UPDATE OF search_key ON service_tokens
    WHEN old.search_key IS NOT new.search_key BEGIN
        UPDATE service_tokens_search SET search_key = new.search_key
            WHERE rowid = (SELECT rowid FROM search_rows WHERE token_id = new.id);
    END""",
    "INSERT INTO search_rows (token_id) SELECT id FROM service_tokens ORDER BY rowid",
    """INSERT INTO service_tokens_search (rowid, search_key)
        SELECT r.rowid, t.search_key
        FROM search_rows r JOIN service_tokens t ON t.id = r.token_id""",
]

_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS service_tokens_search_update",
    "DROP TRIGGER IF EXISTS service_tokens_search_delete",
    "DROP TRIGGER IF EXISTS service_tokens_search_insert",
    "DROP TABLE IF EXISTS service_tokens_search",
    "DROP TABLE IF EXISTS search_rows",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _DOWNGRADE:
            op.execute(statement)
