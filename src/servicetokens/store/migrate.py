"""Bring a database to the newest schema, safely when several processes start at once."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from servicetokens.store.engine import WRITE_INTENT

__all__ = ["head_revision", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x5E_2F_1C_E7  # any constant: serialises concurrent upgrades on one database


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


@functools.cache  # the scripts are read (and imported) once per process, not per engine
def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine) -> None:
    """Migrate to head inside one locked transaction (a no-op when already there)."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
        if current == head_revision():
            return
        connection.info[WRITE_INTENT] = True
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    if engine.dialect.name == "sqlite":
        # Migrations may erase data (0008 destroys plaintext keys): copy the WAL's zeroed
        # pages over the old ones in the database file and empty the WAL, so neither file
        # keeps what was erased. Busy readers only make this partial, never fail.
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
