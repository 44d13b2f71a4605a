"""Read-your-writes across processes: a write acknowledged by one `servicetokens serve` is
seen by the very next request to another, for memoised list pages and tokens alike (on
PostgreSQL the version probe runs on the event loop and is shared by concurrent requests;
neither may answer from before the write)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.harness import Server

from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from tests.conftest import World, make_world

ROUNDS = 25


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, World]]:
    service = build_service(Settings(database_url=database_url, pool_size=2))
    try:
        world = make_world(service)
    finally:
        service.database.engine.dispose()
    command = ["serve", "--host", "127.0.0.1"]
    first = Server.cli(database_url, command, log=tmp_path / "one.log", ready_path="/healthz")
    second = Server.cli(database_url, command, log=tmp_path / "two.log", ready_path="/healthz")
    with first, second:
        yield first.url, second.url, world


def test_a_write_in_one_process_is_read_by_the_next_request_to_another(
    two_servers: tuple[str, str, World],
) -> None:
    one, two, world = two_servers
    path = f"/client/v4/accounts/{world.account_a}/access/service_tokens"
    headers = world.bearer(world.write_a)
    with (
        httpx.Client(headers=headers, timeout=30) as writer,
        httpx.Client(headers=headers, timeout=30) as reader,
    ):
        # Readers hammer the second process meanwhile, so its probes are shared and in
        # flight when the checked request arrives.
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client(headers=headers, timeout=30) as busy:
                while not stop.is_set():
                    busy.get(f"{two}{path}", params={"per_page": 5})

        noise = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in noise:
            thread.start()
        try:
            for round_ in range(ROUNDS):
                listed = reader.get(f"{two}{path}", params={"per_page": 5, "order": "name"})
                assert listed.status_code == 200  # memoised in the second process now
                made = writer.post(f"{one}{path}", json={"name": f"a{round_:03d}"})
                assert made.status_code == 201, made.text
                token_id = made.json()["result"]["id"]
                names = [
                    t["name"]
                    for t in reader.get(
                        f"{two}{path}", params={"per_page": 5, "order": "name"}
                    ).json()["result"]
                ]
                assert names == [f"a{round_:03d}"]  # each round leaves nothing behind
                item = f"{two}{path}/{token_id}"
                assert reader.get(item).json()["result"]["name"] == f"a{round_:03d}"
                renamed = writer.put(f"{one}{path}/{token_id}", json={"name": f"b{round_:03d}"})
                assert renamed.status_code == 200, renamed.text
                assert reader.get(item).json()["result"]["name"] == f"b{round_:03d}"
                assert writer.delete(f"{one}{path}/{token_id}").status_code == 200
                assert reader.get(item).status_code == 404
        finally:
            stop.set()
            for thread in noise:
                thread.join()
