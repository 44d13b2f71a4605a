"""Scale-out over one PostgreSQL: 1 and 2 API processes, 1 and 2 gate processes.

    python -m bench.scale_out [--tokens 10000] [--seconds 5] [--connections 32]
                              [--revocations 20] [--metrics-off]

One command, on loopback: a fresh PostgreSQL database seeded with `--tokens` tokens
(`bench/seed.py`), then

- API: `servicetokens serve --workers 1` started once and twice (separate processes on
  their own ports); `healthz`, `list-20`, `get` and `create` (`bench/scenarios.py`) driven
  against every process at once, the `--connections` split between them (one wrk per
  process, run concurrently); requests per second summed, p99 the worst of them;
- gates: `servicetokens gate` (single upstream, forward-auth decisions, no upstream
  needed) started once and twice, `gate-warm` and `gate-cold` driven the same way;
- revocation across gates: two gates and one API; a token made through the API is
  admitted by both gates, deleted through the API, and the time until both refuse it (each
  polled every 5 ms) is taken `--revocations` times;
- connections: `pg_stat_activity` rows of the database, per configuration, after its load
  (each pool has grown as far as the load takes it).

Every process shares the machine with wrk and PostgreSQL: on a 2-CPU machine the second
process has no core of its own, which this bench reports rather than hides (see
docs/performance.md, *Scale-out*).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psycopg

from bench.harness import Server
from bench.load import LoadResult, have_wrk, run_load
from bench.run import PG_ADMIN, _key_file, database, log
from bench.scenarios import FORWARD_AUTH_PATH, GATE_HEALTH_PATH, by_name
from bench.seed import Seeded, seed

API_SCENARIOS = ("healthz", "list-20", "get", "create")
GATE_SCENARIOS = ("gate-health", "gate-warm", "gate-cold")


def _connections(database_url: str) -> tuple[int, int]:
    """(sessions on the database, of which LISTENing) right now."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE query LIKE 'LISTEN %%') "
            "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@contextmanager
def _processes(
    kind: str, count: int, seeded: Seeded, workdir: Path, env: dict[str, str]
) -> Iterator[list[Server]]:
    with ExitStack() as stack:
        servers = []
        for n in range(count):
            log_path = workdir / f"{kind}-{count}-{n}.log"
            if kind == "api":
                command = ["serve", "--workers", "1"]
                ready = "/healthz"
            else:
                command = [
                    "gate",
                    "--account",
                    seeded.account_id,
                    "--upstream",
                    "http://127.0.0.1:9",
                ]
                command += ["--failure-limit", "0", "--key-file", str(_key_file(workdir))]
                ready = GATE_HEALTH_PATH
            server = Server.cli(
                seeded.database_url, command, log=log_path, ready_path=ready, env=env
            )
            servers.append(stack.enter_context(server))
        time.sleep(1)  # every process done starting
        yield servers


def _drive(
    servers: list[Server], name: str, seeded: Seeded, seconds: float, connections: int
) -> tuple[float, float]:
    """(requests per second summed over `servers`, worst p99 ms) of scenario `name`."""
    load, check = by_name(name).build(seeded)
    for server in servers:  # the scenario answers as it should before it is timed
        first = httpx.request(
            load.method,
            server.url + load.paths[0],
            headers=load.headers,
            content=load.body,
            timeout=30,
        )
        problem = check(first)
        if problem:
            raise RuntimeError(f"{name} on {server.url}: {problem}")
    per = max(1, connections // len(servers))
    threads = max(1, 2 // len(servers))
    for server in servers:  # warm-up, each alone
        run_load(server.url, load, seconds=1.0, threads=threads, connections=per)
    with ThreadPoolExecutor(len(servers)) as pool:
        results: list[LoadResult] = list(
            pool.map(
                lambda s: run_load(s.url, load, seconds=seconds, threads=threads, connections=per),
                servers,
            )
        )
    bad = sum(r.bad_status + r.socket_errors for r in results)
    if bad:
        log(f"{name}: {bad} bad answers")
    return sum(r.rps for r in results), max(r.p99_ms for r in results)


def _revocation(seeded: Seeded, api: Server, gates: list[Server], rounds: int) -> list[float]:
    """Seconds from a delete's 200 until every gate refuses the token, `rounds` times."""
    headers = {"Authorization": f"Bearer {seeded.api_token}"}
    listing = f"{api.url}/client/v4/accounts/{seeded.account_id}/access/service_tokens"
    took = []
    with httpx.Client(timeout=10) as client:
        for n in range(rounds):
            made = client.post(listing, headers=headers, json={"name": f"revoke-{n}"}).json()[
                "result"
            ]
            presented = {
                "CF-Access-Client-Id": made["client_id"],
                "CF-Access-Client-Secret": made["client_secret"],
            }
            for gate in gates:
                for _ in range(2):  # cached
                    assert (
                        client.get(gate.url + FORWARD_AUTH_PATH, headers=presented).status_code
                        == 200
                    )
            assert client.delete(f"{listing}/{made['id']}", headers=headers).status_code == 200
            deleted = time.perf_counter()
            pending = {gate.url for gate in gates}
            while pending:
                for url in list(pending):
                    if client.get(url + FORWARD_AUTH_PATH, headers=presented).status_code == 401:
                        pending.discard(url)
                if time.perf_counter() - deleted > 5:
                    raise RuntimeError(f"still admitted after 5 s by {pending}")
                time.sleep(0.005)
            took.append(time.perf_counter() - deleted)
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_out", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--revocations", type=int, default=20)
    parser.add_argument("--metrics-off", action="store_true", help="serve --no-metrics")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="servicetokens-scale-"))
    env = {**os.environ, "SERVICETOKENS_METRICS": "0" if args.metrics_off else "1"}
    tool = "wrk" if have_wrk() else "python"
    log(f"work directory: {workdir}; load: {tool}; CPUs: {os.cpu_count()}")
    lines = [
        "| processes | scenario | req/s (sum) | p99 ms (worst) | × 1 process |",
        "|---|---|---|---|---|",
    ]
    with database("postgresql", workdir) as url:
        seeded = seed(url, args.tokens)
        log(f"seeded {args.tokens:,} tokens in {seeded.seconds:.1f} s")
        sessions: list[str] = []
        for kind, names in (("gate", GATE_SCENARIOS), ("api", API_SCENARIOS)):
            single: dict[str, float] = {}
            for count in (1, 2):
                with _processes(kind, count, seeded, workdir, env) as servers:
                    for name in names:
                        rps, p99 = _drive(servers, name, seeded, args.seconds, args.connections)
                        single.setdefault(name, rps)
                        ratio = rps / single[name]
                        lines.append(
                            f"| {count} {kind} | {name} | {rps:,.0f} | {p99:.1f} | {ratio:.2f} |"
                        )
                        log(lines[-1])
                    total, listening = _connections(url)
                    sessions.append(f"{count} {kind}: {total} sessions ({listening} LISTEN)")
                    log(sessions[-1])
        with (
            _processes("api", 1, seeded, workdir, env) as apis,
            _processes("gate", 2, seeded, workdir, env) as gates,
        ):
            took = sorted(_revocation(seeded, apis[0], gates, args.revocations))
    median = statistics.median(took) * 1000
    print("\n".join(lines))
    worst = took[-1] * 1000
    print(f"\nrevocation, 2 gates ({len(took)} deletes): p50 {median:.1f} ms, max {worst:.1f} ms")
    print("connections: " + "; ".join(sessions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
