"""Timing side channels: an unknown client id and a wrong secret (at the gate), an unknown
email and a wrong key (at the API), are indistinguishable in time within noise.

Many requests of each kind, alternating in random order over one keep-alive connection to
real server processes; the medians may differ by less than max(15% of the smaller median,
0.5 ms), a bound robust on a noisy two-core machine. Answers must also be byte-identical.

What the bound can and cannot see: over loopback HTTP a request takes about a millisecond,
so it catches one path doing work the other skips when that work costs a few hundred
microseconds or more: a store read or a write skipped for unknown ids, a key derivation or
a hash run on one path only. It cannot see a skipped or short-circuiting digest comparison
(about a microsecond, far inside the noise): that secrets are compared in constant time is
held by the code (`hmac.compare_digest`, with a stand-in checked for unknown ids), not by
this test.
"""

from __future__ import annotations

import random
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from bench.harness import Server

from tests.reliability.live import NO_UPSTREAM, cli_json

pytestmark = pytest.mark.slow

PAIRS = 1500
WARMUP = 200


def _indistinguishable(
    label: str,
    first: Callable[[int], httpx.Response],
    second: Callable[[int], httpx.Response],
    pairs: int = PAIRS,
) -> None:
    rng = random.Random(label)
    times: dict[int, list[float]] = {0: [], 1: []}
    bodies: dict[int, set[tuple[int, bytes]]] = {0: set(), 1: set()}
    calls = (first, second)
    for i in range(WARMUP):
        calls[i % 2](i)
    for i in range(pairs):
        order = [0, 1] if rng.random() < 0.5 else [1, 0]
        for which in order:
            began = time.perf_counter()
            response = calls[which](WARMUP + i)
            times[which].append(time.perf_counter() - began)
            bodies[which].add((response.status_code, response.content))
    assert bodies[0] == bodies[1], (label, bodies)
    assert len(bodies[0]) == 1, (label, bodies[0])
    m0, m1 = statistics.median(times[0]), statistics.median(times[1])
    tolerance = max(0.15 * min(m0, m1), 0.0005)
    print(
        f"{label}: medians {m0 * 1000:.3f} ms vs {m1 * 1000:.3f} ms "
        f"(difference {abs(m0 - m1) * 1000:.3f} ms, tolerance {tolerance * 1000:.3f} ms)"
    )
    assert abs(m0 - m1) < tolerance, (label, m0, m1)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, dict]]:
    tmp: Path = tmp_path_factory.mktemp("timing")
    database = f"sqlite:///{tmp / 'timing.db'}"
    account = cli_json(database, "accounts", "create", "timing")["id"]
    token = cli_json(
        database, "api-tokens", "create", "w", "--account", account, "--permission", "write"
    )["token"]
    user = cli_json(database, "users", "create", "timing@example.com", "--account", account)
    with Server.api(database, log=tmp / "api.log") as api:
        base = f"/client/v4/accounts/{account}/access/service_tokens"
        tokens = []
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"}) as c:
            for i in range(PAIRS // 3 + WARMUP):
                created = c.post(base, json={"name": f"t{i}"})
                assert created.status_code == 201, created.text
                tokens.append(created.json()["result"])
        with Server.gate(
            database,
            account=account,
            upstream=NO_UPSTREAM,
            log=tmp / "gate.log",
            extra=["--failure-limit", "0"],
        ) as gate:
            yield api, gate, {"account": account, "user": user, "tokens": tokens}


def _gate_attempt(client: httpx.Client, client_id: str) -> httpx.Response:
    return client.get(
        "/cdn-cgi/access/authorize",
        headers={
            "CF-Access-Client-Id": client_id,
            "CF-Access-Client-Secret": secrets.token_hex(32),
        },
    )


def test_gate_unknown_client_id_vs_wrong_secret_cached(
    servers: tuple[Server, Server, dict],
) -> None:
    """The same unknown id and the same real id again and again (both in the gate's cache)."""
    _, gate, data = servers
    unknown = secrets.token_hex(16) + ".access"
    known = data["tokens"][0]["client_id"]
    with httpx.Client(base_url=gate.url, timeout=10) as client:
        _indistinguishable(
            "gate, cached",
            lambda _: _gate_attempt(client, unknown),
            lambda _: _gate_attempt(client, known),
        )


def test_gate_unknown_client_id_vs_wrong_secret_first_sight(
    servers: tuple[Server, Server, dict],
) -> None:
    """A fresh id each time on both sides: neither is in the cache, both read the store."""
    _, gate, data = servers
    known = [t["client_id"] for t in data["tokens"]]
    pairs = len(known) - WARMUP
    with httpx.Client(base_url=gate.url, timeout=10) as client:
        _indistinguishable(
            "gate, first sight",
            lambda _: _gate_attempt(client, secrets.token_hex(16) + ".access"),
            lambda i: _gate_attempt(client, known[i]),
            pairs=pairs,
        )


def test_api_unknown_email_vs_wrong_key(servers: tuple[Server, Server, dict]) -> None:
    api, _, data = servers
    base = f"/client/v4/accounts/{data['account']}/access/service_tokens"
    email = data["user"]["email"]
    with httpx.Client(base_url=api.url, timeout=10) as client:

        def attempt(address: str) -> httpx.Response:
            headers = {"X-Auth-Email": address, "X-Auth-Key": secrets.token_hex(32)}
            return client.get(base, headers=headers)

        _indistinguishable(
            "api, email + key",
            lambda _: attempt(f"nobody-{secrets.token_hex(4)}@example.com"),
            lambda _: attempt(email),
        )
