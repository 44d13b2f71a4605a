"""Seeding: one account holding N service tokens, through the database's bulk insert.

Every bulk token is a real domain `ServiceToken` (made by `create_token`), written with
`Transaction.insert_tokens` in write transactions of `batch` tokens. Only three things are
shortcut: all tokens share one secret (so its SHA-256 is computed once), `created_at` steps by
one microsecond per token (a realistic, strictly ordered history), and names repeat in groups
of ten (`svc-000042` is held by ten tokens at every N, so the `name` filter and the `search`
scenario match the same number of rows at 10^3 and at 10^6).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import text

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.clock import system_clock
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import Container, ContainerKind, Permission
from servicetokens.domain.secrets import digest
from servicetokens.domain.tokens import ServiceToken, create_token
from servicetokens.usecases.facade import UseCases

__all__ = ["NAME_GROUP", "Seeded", "name_for", "seed"]

NAME_GROUP = 10
"""Tokens that share each name."""

SAMPLE = 2_000
"""Token ids (spread over the whole table) kept for `get` and `rotate`."""

CLIENT_SAMPLE = 200_000
"""Client ids kept for cold gate verification (more than the gate's 100k-entry cache)."""


def name_for(index: int) -> str:
    """The name of the `index`-th bulk token."""
    return f"svc-{index // NAME_GROUP:06d}"


@dataclass(frozen=True, slots=True)
class Seeded:
    """What the scenarios need to know about a seeded database."""

    database_url: str
    account_id: str
    api_token: str
    count: int
    secret: str
    """The one secret every bulk token shares (for the gate scenarios)."""
    token_ids: list[str]
    """A sample of token ids spread over the table, oldest first."""
    client_ids: list[str]
    """A sample of client ids (for cold gate verification)."""
    seconds: float


def _batch(template: ServiceToken, start: int, stop: int) -> list[ServiceToken]:
    tokens = []
    for index in range(start, stop):
        created = template.created_at + timedelta(microseconds=index)
        tokens.append(
            replace(
                template,
                id=str(uuid.uuid4()),
                client_id=f"{secrets.token_hex(16)}.access",
                name=name_for(index),
                created_at=created,
                updated_at=created,
            )
        )
    return tokens


def seed(database_url: str, count: int, *, batch: int = 10_000) -> Seeded:
    """Migrate `database_url`, create an account and a Write API token, insert `count` tokens."""
    started = time.perf_counter()
    service = build_service(Settings(database_url=database_url, pool_size=2))
    try:
        account_id = service.admin.create_account("bench")
        api_token = service.admin.create_api_token(
            "bench", scope=ContainerKind.ACCOUNT, scope_id=account_id, permission=Permission.WRITE
        ).secret
        container = Container(ContainerKind.ACCOUNT, account_id, account_id)
        # History starts `count` microseconds ago, so every token is already in the past.
        now = system_clock() - timedelta(microseconds=count)
        template, _ = create_token(
            TokenFields(name="svc", duration="8760h"), container=container, now=now
        )
        secret = secrets.token_hex(32)
        template = replace(template, secret_digest=digest(secret))
        stride = max(1, count // SAMPLE)
        client_stride = max(1, count // CLIENT_SAMPLE)
        token_ids: list[str] = []
        client_ids: list[str] = []
        for start in range(0, count, batch):
            tokens = _batch(template, start, min(count, start + batch))
            with service.database.write() as tx:
                tx.tokens.insert_many(tokens)
            token_ids.extend(t.id for i, t in enumerate(tokens, start) if i % stride == 0)
            client_ids.extend(
                t.client_id for i, t in enumerate(tokens, start) if i % client_stride == 0
            )
        _analyze(service)
    finally:
        service.database.engine.dispose()
    return Seeded(
        database_url=database_url,
        account_id=account_id,
        api_token=api_token,
        count=count,
        secret=secret,
        token_ids=token_ids,
        client_ids=client_ids,
        seconds=time.perf_counter() - started,
    )


def _analyze(service: UseCases) -> None:
    """PostgreSQL: refresh planner statistics, as autovacuum would shortly after a bulk load.

    SQLite is left as a user's file would be (no ANALYZE), so its plans are the ones users get.
    """
    engine = service.database.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE service_tokens")
            )
