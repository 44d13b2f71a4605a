"""Audit retention and write-behind costs: how long each prune batch holds its transaction,
and what one refused row costs a write-behind flush.

    python -m bench.audit_prune [--database URL] [--rows 100000] [--uses 5000]

Without `--database`, a fresh SQLite file in a temporary directory. Seeds `--rows` audit
entries two years old, prunes them with the default retention (365 days) and batch (1000),
timing every batch; then flushes `--uses` last-seen uses once cleanly and once with one row
the database refuses, and prints the times.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.usecases.audit_retention import PRUNE_BATCH
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.last_seen import LastSeenWriter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--uses", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        service = build_service(Settings(database_url=url, pool_size=2))
        database = service.database
        old = datetime.now(UTC) - timedelta(days=730)
        entry = AuditEntry(old, "gate", "bench", "gate.auth_failed", origin="192.0.2.1")
        for start in range(0, args.rows, 10_000):
            with database.write() as tx:
                for _ in range(min(10_000, args.rows - start)):
                    tx.audit.add(entry)
        cutoff = datetime.now(UTC) - timedelta(days=365)
        durations = []
        while True:
            began = time.perf_counter()
            with database.write() as tx:
                deleted = tx.audit.prune(cutoff, limit=PRUNE_BATCH)
            durations.append(time.perf_counter() - began)
            if deleted < PRUNE_BATCH:
                break
        print(f"engine: {database.engine.dialect.name}")
        print(
            f"prune {args.rows} rows: {len(durations)} batches of {PRUNE_BATCH}, total "
            f"{sum(durations):.2f} s, per batch p50 {statistics.median(durations) * 1e3:.1f} ms, "
            f"max {max(durations) * 1e3:.1f} ms"
        )

        account = service.admin.create_account("bench")
        grant = Grant(ContainerKind.ACCOUNT, account, Permission.WRITE)
        principal = Principal(PrincipalKind.API_TOKEN, "bench", (grant,))
        ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
        ids = [
            service.tokens.create(principal, ref, TokenFields(name=f"b{i}"))[0].id
            for i in range(args.uses)
        ]
        for bad in (False, True):
            writer = LastSeenWriter(database, interval=3600.0)
            now = time.time()
            for token_id in ids:
                writer.record(token_id, now)
            if bad:
                writer.record("refused-\udc80", now)
            began = time.perf_counter()
            writer.flush()
            took = time.perf_counter() - began
            label = "with one refused row" if bad else "clean"
            print(
                f"flush {args.uses} uses, {label}: {took * 1e3:.0f} ms "
                f"(written {writer.written}, dropped {writer.dropped})"
            )
        database.engine.dispose()


if __name__ == "__main__":
    main()
