"""SQLite files are created private (0600) whatever the umask, and exposure is detected."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.files import ReadableDatabase, check_private, exposed_files
from servicetokens.store.migrate import upgrade


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o002)  # group- and world-readable files by default
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_wal_shm_and_lock_are_created_0600(tmp_path: Path, permissive_umask: None) -> None:
    database = tmp_path / "st.db"
    engine = make_engine(f"sqlite:///{database}", pool_size=2)
    upgrade(engine)
    database = Database(engine)
    database.run_write(lambda tx: tx.signing_keys.lock())  # the group committer's lock file
    with database.read() as tx:  # a second connection keeps the WAL and shm in place
        tx.signing_keys.all()
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["st.db", "st.db-shm", "st.db-wal", "st.db-writer.lock"]
        assert {name: _mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
    engine.dispose()


def test_an_existing_readable_database_is_named_with_the_fix(tmp_path: Path) -> None:
    database = tmp_path / "st.db"
    engine = make_engine(f"sqlite:///{database}", pool_size=1)
    upgrade(engine)
    engine.dispose()
    check_private(database)  # as created: private
    database.chmod(0o640)
    assert exposed_files(database) == [(database, 0o640)]
    with pytest.raises(ReadableDatabase) as refused:
        check_private(database)
    message = str(refused.value)
    assert str(database) in message
    assert f"chmod 600 {database}" in message
    assert "--allow-readable-database" in message
    database.chmod(0o700)  # execute alone exposes nothing
    check_private(database)
