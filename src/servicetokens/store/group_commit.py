"""Group commit for SQLite: many writers, one transaction, one fsync.

SQLite has one writer at a time and, with `synchronous=FULL`, one fsync per commit, which
caps durable writes at the disk's fsync rate (about 600/s on this project's machines). Here
writes from every thread queue up for one committer thread, which runs all that are waiting
in one transaction, each unit inside its own SAVEPOINT (so one unit's error rolls back only
that unit), commits once, and only then answers every caller. Nobody is told "done" before
the fsync that makes their write durable.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine

from servicetokens.store.engine import WRITE_INTENT

__all__ = ["GroupCommitter"]

T = TypeVar("T")
log = logging.getLogger("servicetokens.store.group_commit")

_MAX_BATCH = 256


class GroupCommitter:
    """Runs write units (functions of a transaction) in shared transactions."""

    def __init__(self, engine: Engine, wrap: Callable[[Any], Any]) -> None:
        self._engine = engine
        self._wrap = wrap  # connection -> the Transaction object units receive
        self._queue: queue.SimpleQueue[tuple[Callable[[Any], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        database = engine.url.database
        self._lock_path = f"{database}-writer.lock" if database and database != ":memory:" else None
        self._started = threading.Lock()
        self.batches = 0
        self.units = 0

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        """Take turns with the committers of other processes on the same file.

        SQLite's own busy handler polls with growing sleeps, so two processes' committers
        starve each other into multi-second tails; a blocking file lock wakes the next
        writer the moment the last one commits.
        """
        if self._lock_path is None:
            yield
            return
        # 0600 like the database beside it (the lock holds nothing, but nothing of ours is
        # made with the umask).
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        with open(descriptor, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def run(self, unit: Callable[[Any], T]) -> T:
        """Run `unit(tx)` in a committed transaction; its result once the commit is durable."""
        future: Future[T] = Future()
        self._queue.put((unit, future))
        self._ensure_thread()
        return future.result()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._started:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="servicetokens-group-commit", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[tuple[Callable[[Any], Any], Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with self._writer_lock(), self._engine.connect() as connection:
                connection.info[WRITE_INTENT] = True
                with connection.begin():
                    tx = self._wrap(connection)
                    for unit, future in batch:
                        savepoint = connection.begin_nested()
                        try:
                            result = unit(tx)
                        except Exception as exc:  # this unit only: undo it, keep the others
                            savepoint.rollback()
                            outcomes.append((future, None, exc))
                        else:
                            savepoint.commit()
                            outcomes.append((future, result, None))
        except Exception as exc:  # the commit itself failed: nobody's write is durable
            log.warning("group commit of %d writes failed: %s", len(batch), exc)
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.units += len(batch)
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
