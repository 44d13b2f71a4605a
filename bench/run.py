"""One benchmark run: for each engine and size, seed, start the servers, measure each scenario.

The API server is `servicetokens --database URL serve --workers W` and the gate is
`servicetokens --database URL gate ...` (forward-auth): both started as a user would, each in
its own process group, and driven by the load tool from this (separate) process.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from bench import profile
from bench.harness import CLI, Server
from bench.load import Load, run_load
from bench.report import Row
from bench.scenarios import API, GATE, GATE_HEALTH_PATH, Scenario
from bench.seed import Seeded, seed
from bench.server import RssSampler
from servicetokens.signing.kek import KeyEncryptionKey

__all__ = [
    "PG_ADMIN",
    "Options",
    "api_server",
    "database",
    "gate_available",
    "log",
    "measure_size",
]

PG_ADMIN = os.environ.get(
    "SERVICETOKENS_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)

_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, with the seconds since the run started."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Options:
    """How long and how hard each scenario runs."""

    seconds: float = 5
    warmup: float = 1
    threads: int = 2
    connections: int = 32
    workers: int = 2
    profile_scenario: str | None = None
    workdir: Path = field(default_factory=lambda: Path("/tmp"))
    profiles: dict[str, str] = field(default_factory=dict)
    """(engine, tokens, scenario) label → py-spy summary."""


@contextmanager
def database(engine: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database URL on `engine`, removed afterwards."""
    if engine == "sqlite":
        path = workdir / f"st_bench_{secrets.token_hex(4)}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"st_bench_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def gate_available() -> bool:
    """Whether this servicetokens has the `gate` command."""
    done = subprocess.run([CLI, "gate", "--help"], capture_output=True, check=False)
    return done.returncode == 0


def _first_request(url: str, load: Load) -> httpx.Response:
    headers = dict(load.headers)
    if load.cycle_header is not None:
        headers[load.cycle_header] = load.cycle_values[0]
    return httpx.request(
        load.method, url + load.paths[0], headers=headers, content=load.body, timeout=300
    )


def _measure(server: Server, scenario: Scenario, seeded: Seeded, engine: str, opts: Options) -> Row:
    url = server.url
    load, check = scenario.build(seeded)
    began = time.perf_counter()
    problem = check(_first_request(url, load))
    single = time.perf_counter() - began
    if problem is not None:
        raise RuntimeError(f"{scenario.name} on {engine} @{seeded.count}: {problem}")
    if scenario.warmup and opts.warmup > 0:
        run_load(url, load, seconds=opts.warmup, threads=opts.threads, connections=opts.connections)
    with RssSampler(server.pid) as rss:
        result = run_load(
            url, load, seconds=opts.seconds, threads=opts.threads, connections=opts.connections
        )
    log(
        f"{engine} @{seeded.count:,} {scenario.name}: {result.rps:,.0f} req/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, RSS {rss.peak_mb:.0f} MB"
        + (f", {result.bad_status + result.socket_errors} errors" if result.bad_status else "")
    )
    if opts.profile_scenario == scenario.name:
        _profile(url, server, load, f"{engine} @{seeded.count:,} {scenario.name}", opts)
    note = scenario.note
    if scenario.name.endswith(("-cold", "-nocache")):
        distinct = len(load.cycle_values or load.paths)
        misses = (
            "all misses" if result.requests <= distinct else "PARTLY CACHED: requests > distinct"
        )
        note = f"{note}; {distinct:,} distinct, {result.requests:,} requests: {misses}"
    if result.requests == 0:
        note = f"{note}; NO ANSWER within the run (one request alone took {single:.1f} s)"
    return Row(
        engine=engine,
        tokens=seeded.count,
        scenario=scenario.name,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        rss_mb=rss.peak_mb,
        rss_process_mb=rss.peak_process_mb,
        pss_mb=rss.peak_pss_mb,
        bad=result.bad_status + result.socket_errors,
        baseline=scenario.baseline,
        note=note,
    )


def _failed(scenario: Scenario, seeded: Seeded, engine: str, exc: Exception) -> Row:
    return Row(
        engine=engine,
        tokens=seeded.count,
        scenario=scenario.name,
        rps=0,
        p50_ms=0,
        p99_ms=0,
        rss_mb=0,
        rss_process_mb=0,
        pss_mb=0,
        bad=1,
        baseline=scenario.baseline,
        note=f"FAILED: {type(exc).__name__}: {str(exc)[:120]}",
    )


def _settle(server: Server, kind: str, seeded: Seeded, *, limit: float = 300) -> None:
    """Wait until the server has worked off what the last scenario left queued.

    wrk stops sending when its time is up, but requests already queued in the server's thread
    pool still run (a slow scenario can leave a minute of work behind). The next scenario
    starts once a small database-backed request answers within a second again.
    """
    if kind == API:
        path = (
            f"/client/v4/accounts/{seeded.account_id}/access/service_tokens/{seeded.token_ids[-1]}"
        )
        headers = {"Authorization": f"Bearer {seeded.api_token}"}
    else:
        path, headers = GATE_HEALTH_PATH, {}
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        began = time.monotonic()
        with suppress(httpx.HTTPError):
            httpx.get(server.url + path, headers=headers, timeout=limit)
        if time.monotonic() - began < 1:
            return
    log(f"server still busy after {limit:.0f}s")


def _profile(url: str, server: Server, load: Load, label: str, opts: Options) -> None:
    raw = opts.workdir / f"profile-{label.replace(' ', '_').replace(',', '')}.txt"
    seconds = max(3, round(opts.seconds))
    spy = profile.record(server.pid, seconds=seconds, out=raw)
    time.sleep(0.5)
    run_load(url, load, seconds=seconds, threads=opts.threads, connections=opts.connections)
    spy.wait(timeout=seconds + 60)
    summary = profile.summarise(raw) if raw.exists() else "py-spy wrote nothing"
    opts.profiles[label] = summary
    log(f"profile of {label} (raw stacks: {raw}):\n{summary}")


def _key_file(workdir: Path) -> Path:
    """A key-encryption key for the benchmark's gates (0600, made once per work dir)."""
    path = workdir / "st_bench.kek"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(descriptor, "w", encoding="ascii") as handle:
            handle.write(KeyEncryptionKey.generate().encoded())
    return path


def _server(kind: str, seeded: Seeded, opts: Options) -> Server:
    log = opts.workdir / f"{kind}.log"
    if kind == API:
        command = ["serve", "--workers", str(opts.workers)]
        return Server.cli(seeded.database_url, command, log=log, ready_path="/healthz")
    # Forward-auth answers without the upstream, so the upstream need not exist.
    command = ["gate", "--account", seeded.account_id, "--upstream", "http://127.0.0.1:9"]
    command += ["--failure-limit", "0"]
    command += ["--key-file", str(_key_file(opts.workdir))]  # PostgreSQL has no default KEK
    return Server.cli(seeded.database_url, command, log=log, ready_path=GATE_HEALTH_PATH)


def api_server(seeded: Seeded, opts: Options) -> Server:
    """`servicetokens serve` on `seeded`'s database, as the API scenarios run it."""
    return _server(API, seeded, opts)


def measure_size(
    engine: str, count: int, scenarios: list[Scenario], opts: Options
) -> tuple[list[Row], float]:
    """Seed `count` tokens on `engine`, measure `scenarios`; returns rows and seed seconds.

    Gate scenarios run first: `rotate` gives sampled tokens new secrets.
    """
    rows: list[Row] = []
    with database(engine, opts.workdir) as url:
        log(f"{engine} @{count:,}: seeding")
        seeded = seed(url, count)
        log(f"{engine} @{count:,}: seeded in {seeded.seconds:.1f}s")
        for kind in (GATE, API):
            chosen = [s for s in scenarios if s.target == kind]
            if not chosen:
                continue
            with _server(kind, seeded, opts) as server:
                time.sleep(1)  # let every worker finish starting
                for scenario in chosen:
                    try:
                        rows.append(_measure(server, scenario, seeded, engine, opts))
                    except Exception as exc:  # one broken scenario must not lose the run
                        log(f"{engine} @{count:,} {scenario.name} FAILED: {exc!r}")
                        rows.append(_failed(scenario, seeded, engine, exc))
                    _settle(server, kind, seeded)
    by_name = {r.scenario: r for r in rows}
    for row in rows:
        base = by_name.get(row.baseline)
        if base is not None and base.rps:
            row.ratio = row.rps / base.rps
    return rows, seeded.seconds
