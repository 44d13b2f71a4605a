"""Transactions on one engine, and the aggregate stores they hand out.

`Database.read()` and `Database.write()` open a transaction and yield a `Transaction`: one
connection shared by one store per aggregate (`tx.tokens`, `tx.principals`, `tx.audit`, …),
whose methods speak domain types; rows never leave the store modules.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from servicetokens.domain.histogram import Histogram
from servicetokens.domain.paging import ListQuery, SeekKey
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.access_apps import ApplicationStore
from servicetokens.store.access_policies import PolicyStore
from servicetokens.store.alert_history import AlertHistoryStore
from servicetokens.store.alert_policies import AlertPolicyStore
from servicetokens.store.alert_state import AlertStateStore
from servicetokens.store.async_reads import AsyncTokenReads
from servicetokens.store.async_search import AsyncSearches
from servicetokens.store.audit import AuditStore
from servicetokens.store.containers import ContainerStore
from servicetokens.store.dashboard import DashboardStore
from servicetokens.store.dialect import Dialect
from servicetokens.store.engine import SNAPSHOT_INTENT, WRITE_INTENT, normalise_url
from servicetokens.store.group_commit import GroupCommitter
from servicetokens.store.organizations import OrganizationStore
from servicetokens.store.outbox import OutboxStore
from servicetokens.store.principals import PrincipalStore
from servicetokens.store.probe import AsyncVersionProbe
from servicetokens.store.search import TokenTotal
from servicetokens.store.service_tokens import TokenStore
from servicetokens.store.signing_keys import SigningKeyStore
from servicetokens.store.token_rows import StoredPage
from servicetokens.store.trigrams import TrigramSample
from servicetokens.store.versions import VersionStore, fold_versions, versions_on, versions_sql
from servicetokens.store.webhooks import WebhookStore

__all__ = ["Database", "PoolUse", "Transaction"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PoolUse:
    """The engine's connection pool right now."""

    size: int
    """Connections the pool keeps."""
    checked_out: int
    """Connections in use."""
    overflow: int
    """Connections opened beyond `size` (negative: not yet opened up to `size`)."""


class Transaction:
    """One open transaction, seen through one store per aggregate."""

    __slots__ = (
        "access_apps",
        "access_policies",
        "alert_history",
        "alert_policies",
        "alert_state",
        "audit",
        "connection",
        "containers",
        "dashboard",
        "dialect",
        "organizations",
        "outbox",
        "principals",
        "signing_keys",
        "tokens",
        "versions",
        "webhooks",
    )

    def __init__(
        self,
        connection: Connection,
        *,
        token_total: TokenTotal | None = None,
        trigrams: TrigramSample | None = None,
    ) -> None:
        self.connection = connection
        """The transaction's connection (for the stores, migrations and tests)."""
        self.dialect = dialect = Dialect.of(connection)
        self.containers = ContainerStore(connection, dialect)
        self.principals = PrincipalStore(connection, dialect)
        self.versions = VersionStore(connection, dialect)
        self.tokens = TokenStore(
            connection, dialect, versions=self.versions, token_total=token_total, trigrams=trigrams
        )
        self.audit = AuditStore(connection, dialect)
        self.signing_keys = SigningKeyStore(connection, dialect)
        self.access_policies = PolicyStore(connection, dialect)
        self.access_apps = ApplicationStore(connection, dialect)
        self.organizations = OrganizationStore(connection, dialect)
        self.webhooks = WebhookStore(connection, dialect)
        self.alert_policies = AlertPolicyStore(connection, dialect)
        self.outbox = OutboxStore(connection, dialect)
        self.alert_history = AlertHistoryStore(connection, dialect)
        self.alert_state = AlertStateStore(connection, dialect)
        self.dashboard = DashboardStore(connection, dialect)


def _listen_conninfo(engine: Engine, listen_url: str | None) -> str | None:
    if engine.dialect.name != "postgresql":
        if listen_url is not None:
            raise ValueError("a LISTEN database goes with a PostgreSQL database")
        return None
    url = engine.url if listen_url is None else normalise_url(listen_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("the LISTEN database must be a postgresql:// URL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Database:
    """Opens transactions on one engine.

    On PostgreSQL, changes are also pushed (LISTEN/NOTIFY, `store/change_feed.py`) to a
    session that LISTENs on `listen_url` (default: the engine's own database); `listen=False`
    (a transaction-mode pooler in front and no direct URL) leaves followers to poll."""

    def __init__(
        self, engine: Engine, *, listen_url: str | None = None, listen: bool = True
    ) -> None:
        self.engine = engine
        self.dialect = Dialect(engine.dialect.name)
        self.listen_conninfo = _listen_conninfo(engine, listen_url) if listen else None
        """libpq connection string of the session that LISTENs (None: nothing listens)."""
        self.inline_reads = not self.dialect.postgres
        """Whether short reads may run on the event loop (an embedded engine: no network)."""
        self._committer = GroupCommitter(engine, Transaction) if self.inline_reads else None
        database = engine.url.database if self.inline_reads else None
        self._probe_path = database if database and database != ":memory:" else None
        self._probes = threading.local()
        self._token_total = TokenTotal()
        self.pool_waits = Histogram()
        """Seconds each transaction waited for a pooled connection (with its pre-ping)."""
        self._trigrams = TrigramSample() if self.dialect.postgres else None
        self._async_probe = AsyncVersionProbe(engine.url) if self.dialect.postgres else None
        self._async_tokens = AsyncTokenReads(engine.url) if self.dialect.postgres else None
        self._async_searches: AsyncSearches | None = None
        if self._trigrams is not None:
            self._async_searches = AsyncSearches(
                engine,
                token_total=self._token_total,
                trigrams=self._trigrams,
                refresh=self.refresh_plan_statistics,
            )
        self._refreshing = threading.Lock()

    def _connect(self) -> Connection:
        started = time.perf_counter()
        connection = self.engine.connect()
        self.pool_waits.observe(time.perf_counter() - started)
        return connection

    def pool_use(self) -> PoolUse:
        """How many pooled connections exist and are in use (for the metrics)."""
        pool: Any = self.engine.pool
        if not hasattr(pool, "checkedout"):  # a pool without a size (e.g. in-memory SQLite)
            return PoolUse(0, 0, 0)
        return PoolUse(int(pool.size()), int(pool.checkedout()), int(pool.overflow()))

    def ping(self) -> None:
        """Read from the database once, on a fresh pooled connection; raises the driver's
        error (wrapped by SQLAlchemy) when it cannot be reached."""
        with self._connect() as connection:
            connection.exec_driver_sql("SELECT 1 FROM container_versions LIMIT 1").all()

    async def probe_versions_async(
        self, kind: ContainerKind, container_id: str
    ) -> tuple[int, int, int]:
        """`probe_versions` from an event loop: on PostgreSQL without leaving the loop (one
        connection per loop, whose queries concurrent callers share; `store.probe`); on
        SQLite the same call as `probe_versions` (microseconds, no network)."""
        if self._async_probe is None:
            return self.probe_versions(kind, container_id)
        return await self._async_probe.versions(kind.value, container_id)

    async def token_async(self, container: Container, token_id: str) -> ServiceToken | None:
        """The container's token with that id, from an event loop: on PostgreSQL without
        leaving the loop (`store.async_reads`); on SQLite one `single_read` (no network)."""
        if self._async_tokens is None:
            with self.single_read() as tx:
                return tx.tokens.get(container, token_id)
        return await self._async_tokens.token(container, token_id)

    def loop_search_term(self, search: str, *, token_count: int) -> str | None:
        """On PostgreSQL, the word the trigram index is asked for when a search for `search`
        in a container of `token_count` tokens is cheap enough to read from an event loop
        (`search_page_async`); None when it costs a scan (`store.async_search`). Sends no
        statement."""
        if self._async_searches is None:
            return None
        return self._async_searches.index_term(search, token_count=token_count)

    async def search_page_async(
        self,
        container: Container,
        query: ListQuery,
        *,
        index_term: str,
        after: SeekKey | None,
        total: int | None,
    ) -> StoredPage:
        """`TokenStore.read_page` of a search `loop_search_term` gave `index_term` for, read
        from the event loop in one autocommit statement (two when a full page needs its
        count; `total` is the count when the caller knows it)."""
        assert self._async_searches is not None, "loop_search_term said no"
        return await self._async_searches.page(
            container, query, index_term=index_term, after=after, total=total
        )

    def refresh_plan_statistics(self) -> None:
        """On PostgreSQL, re-read the number of tokens and the trigram sample (when older
        than their time to live) in a thread of their own, one at a time, for plan choices
        made where no statement is sent (`loop_search_term`)."""
        if self._async_searches is None or not self._refreshing.acquire(blocking=False):
            return

        def refresh() -> None:
            try:
                with self.single_read() as tx:
                    total = self._token_total.get(tx.connection)
                    if self._trigrams is not None:
                        self._trigrams.refresh(tx.connection, total)
            except SQLAlchemyError:
                pass  # the statistics only choose plans: the next search asks again
            finally:
                self._refreshing.release()

        threading.Thread(target=refresh, name="plan-statistics", daemon=True).start()

    async def close_async(self) -> None:
        """Close what the running event loop holds (the PostgreSQL probe's, token reads'
        and searches' connections)."""
        if self._async_probe is not None:
            await self._async_probe.close()
        if self._async_tokens is not None:
            await self._async_tokens.close()
        if self._async_searches is not None:
            await self._async_searches.close()

    def probe_versions(self, kind: ContainerKind, container_id: str) -> tuple[int, int, int]:
        """`VersionStore.versions` at the lowest cost the engine allows.

        On an SQLite file this is one statement on a per-thread read-only connection kept
        outside the pool (a few microseconds; the one raw connection of the store, because
        the pool's checkout costs more than the query on the API's hottest path); elsewhere
        one statement on a pooled connection in autocommit (one statement reads one
        snapshot, so no BEGIN and COMMIT round trips).
        """
        if self._probe_path is None:
            if self.inline_reads:  # SQLite in memory: the pool's one connection
                with self.read() as tx:
                    return tx.versions.versions(kind, container_id)
            with self._connect() as pooled:
                autocommit = pooled.execution_options(isolation_level="AUTOCOMMIT")
                return versions_on(autocommit, self.dialect, kind, container_id)
        connection = getattr(self._probes, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._probe_path, isolation_level=None, check_same_thread=False, timeout=10
            )
            connection.execute("PRAGMA query_only=1")
            self._probes.connection = connection
        rows = connection.execute(versions_sql(self.dialect), (kind.value, container_id)).fetchall()
        return fold_versions(rows)

    def run_write(self, unit: Callable[[Transaction], T]) -> T:
        """Run `unit` in a committed write transaction and return its result.

        On SQLite concurrent units share one transaction and one fsync (group commit), each
        in its own savepoint; on PostgreSQL each runs in a transaction of its own. Either
        way the result comes back only once the write is durable, and an exception from
        `unit` undoes exactly that unit's writes.
        """
        if self._committer is not None:
            return self._committer.run(unit)
        with self.write() as tx:
            return unit(tx)

    def checkpoint(self) -> None:
        """SQLite: move the WAL into the database file and empty it, so content zeroed by
        `secure_delete` (see `Dialect.erasing`) is zeroed in the database file too and no
        longer lingers in the WAL. Nothing on PostgreSQL."""
        if not self.dialect.postgres:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        """Close every pooled connection (at the end of a process or a command)."""
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A read-only transaction."""
        with self._connect() as connection, connection.begin():
            yield Transaction(connection, token_total=self._token_total, trigrams=self._trigrams)

    @contextmanager
    def single_read(self) -> Iterator[Transaction]:
        """A read of one statement: on PostgreSQL in autocommit (one statement sees one
        snapshot, so BEGIN and COMMIT would only add round trips); elsewhere `read()`."""
        if not self.dialect.postgres:
            with self.read() as tx:
                yield tx
            return
        with self._connect() as pooled:
            autocommit = pooled.execution_options(isolation_level="AUTOCOMMIT")
            yield Transaction(autocommit, token_total=self._token_total, trigrams=self._trigrams)

    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        """A read-only transaction whose statements all see one snapshot (REPEATABLE READ
        on PostgreSQL, a deferred BEGIN on SQLite), for reads that must agree with each
        other, such as a gate's whole control plane."""
        with self._connect() as connection:
            if self.dialect.postgres:
                connection.execution_options(isolation_level="REPEATABLE READ")
            else:
                connection.info[SNAPSHOT_INTENT] = True
            with connection.begin():
                yield Transaction(connection)

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """A write transaction, committed when the block ends without an exception."""
        with self._connect() as connection:
            connection.info[WRITE_INTENT] = True
            with connection.begin():
                yield Transaction(connection)
