"""Signing private keys only wrapped under a key-encryption key; plaintext ones destroyed.

Earlier revisions stored each gate signing key as a plaintext PEM, which let anyone who
could read the database (a copy, a backup, a read-only role) sign JWTs the gate accepts.
A migration cannot wrap them (the key-encryption key is never in the database), so it
destroys them: the table is recreated with `wrapped_key` and `kek_id`, and the first gate
(or `servicetokens keys rotate`) makes a new key. JWTs signed under the old keys stop
validating; clients present their credentials again and get a new one.

On SQLite the old rows are erased with `secure_delete` (their pages are zeroed, not just
freed); the WAL is truncated after the upgrade commits (`store/migrate.py`). On PostgreSQL
the old tuples stay on disk until VACUUM reclaims them (autovacuum does, in time).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _erasing_drop() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA secure_delete=ON")
    op.execute("DELETE FROM signing_keys")
    op.drop_table("signing_keys")
    if sqlite:
        op.execute("PRAGMA secure_delete=OFF")


def upgrade() -> None:
    _erasing_drop()
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64)),
        sa.Column("wrapped_key", sa.Text, nullable=False),
        sa.Column("kek_id", sa.String(16), nullable=False),
        sa.Column("cert_pem", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("activates_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_index("ix_signing_keys_activates_at", "signing_keys", ["activates_at"])


def downgrade() -> None:
    # Wrapped keys cannot be unwrapped here either: the old layout starts empty.
    _erasing_drop()
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64)),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("cert_pem", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("activates_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_index("ix_signing_keys_activates_at", "signing_keys", ["activates_at"])
