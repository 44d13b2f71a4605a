"""The official Python SDK's auto-pagination over 10^5 tokens while others are created and
deleted: every token that exists throughout the walk is seen exactly once (both engines).

Not timed (bench/walk.py measures walks). The deletions fall behind the walker as well as
ahead of it: read by OFFSET, each deletion behind it would shift the rest of the list one
place back and the walk would skip a token; the server continues each page from where the
caller's previous page ended instead (docs/compatibility.md, *Walking a list*).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.harness import Server
from bench.seed import seed
from cloudflare import Cloudflare

from servicetokens.store.engine import make_engine
from tests.conformance.conftest import API_PREFIX
from tests.conftest import own_postgres_database

COUNT = 100_000


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'walk.db'}"
        return
    with own_postgres_database("st_walk") as url:
        yield url


@pytest.mark.slow
def test_sdk_walk_sees_every_lasting_token_once_under_writes(
    empty_database: str, tmp_path: Path
) -> None:
    seeded = seed(empty_database, COUNT)
    engine = make_engine(empty_database, pool_size=1)
    try:
        with engine.connect() as connection:
            everything = {
                row[0] for row in connection.exec_driver_sql("SELECT id FROM service_tokens")
            }
    finally:
        engine.dispose()
    assert len(everything) == COUNT
    # Which seeded tokens the writer deletes: every 7th of the sample, from the start of the
    # list (behind the walker soon) to its end (ahead of it).
    doomed = seeded.token_ids[::7]
    server = Server.cli(
        empty_database,
        ["serve", "--host", "127.0.0.1"],
        log=tmp_path / "server.log",
        ready_path="/healthz",
    )
    with server:
        collection = f"{server.url}{API_PREFIX}/accounts/{seeded.account_id}/access/service_tokens"
        headers = {"Authorization": f"Bearer {seeded.api_token}"}
        stop = threading.Event()
        deleted: list[str] = []
        created: list[str] = []

        def write() -> None:
            with httpx.Client(headers=headers, timeout=30) as http:
                for index, token_id in enumerate(doomed):
                    if stop.is_set():
                        return
                    made = http.post(collection, json={"name": f"during-{index}"})
                    assert made.status_code == 201, made.text
                    created.append(made.json()["result"]["id"])
                    gone = http.delete(f"{collection}/{token_id}")
                    assert gone.status_code == 200, gone.text
                    deleted.append(token_id)

        writer = threading.Thread(target=write, name="writer")
        client = Cloudflare(api_token=seeded.api_token, base_url=f"{server.url}{API_PREFIX}")
        seen: Counter[str] = Counter()
        pages = client.zero_trust.access.service_tokens.list(
            account_id=seeded.account_id, per_page=1000
        )
        for number, token in enumerate(pages):
            if number == 2_000:  # the writer starts once the walk is under way
                writer.start()
            assert token.id is not None
            seen[token.id] += 1
        stop.set()
        writer.join(timeout=60)
        assert not writer.is_alive()
    assert deleted, "the writer deleted nothing while the walk ran"
    assert created, "the writer created nothing while the walk ran"
    assert max(seen.values()) == 1, [t for t, n in seen.items() if n > 1][:5]
    # Every seeded token not deleted lasted throughout: each is seen (once, as above); what
    # else is seen was created or deleted during the walk.
    lasting = everything - set(deleted)
    assert not lasting - set(seen), f"{len(lasting - set(seen))} lasting tokens never seen"
    assert set(seen) <= everything | set(created)
