"""Alembic environment: runs on the connection `servicetokens.store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from servicetokens.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - we never run alembic from its own CLI
    raise RuntimeError("use `servicetokens db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
