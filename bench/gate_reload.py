"""How long a change made through the control plane takes to be in force at a gate serving
1,000 applications with 10,000 policies, on SQLite and on PostgreSQL.

    python -m bench.gate_reload [--apps 1000] [--policies-per-app 10] [--changes 5]
                                [--engine sqlite --engine postgresql]

One command: for each engine, an account built as `bench/gate_apps.py` builds it (through the
control plane's use cases), and a gate's follower of it (`usecases.access_follower`, as
`servicetokens gate --account ...` runs it, polling every 0.15 s, with LISTEN on
PostgreSQL). Then:

- `full`: reading the snapshot and compiling it with nothing to reuse (what the first load
  and a gate without an earlier state pay), best and median of `--changes` rounds;
- `change → in force`: one application's policies replaced through the use cases, then the
  time from the commit until the follower's state in force has the new version (the gate
  then answers by it), `--changes` times, with the follower's own reload time beside it
  (reading the snapshot, compiling what changed, the collection and freeze that follow).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as `python bench/gate_reload.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.apps_world import build_world, policies_for, target_of
from bench.run import PG_ADMIN

__all__ = ["main"]


def _world(url: str, args: argparse.Namespace) -> tuple[Any, Any, str]:
    from servicetokens.bootstrap import build_use_cases
    from servicetokens.store.database import Database
    from servicetokens.store.engine import make_engine
    from servicetokens.store.migrate import upgrade

    engine = make_engine(url, pool_size=4)
    upgrade(engine)
    database = Database(engine)
    service = build_use_cases(database, max_applications=max(args.apps, 500))
    world = build_world(service, "reload", args.apps, args.policies_per_app, "http://127.0.0.1:9")
    return database, service, world.account


def _measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    from servicetokens.domain.permissions import (
        ContainerKind,
        Grant,
        Permission,
        Principal,
        PrincipalKind,
    )
    from servicetokens.usecases.access_follower import AccessFollower
    from servicetokens.usecases.access_state import compile_state
    from servicetokens.usecases.authorization import ContainerRef
    from servicetokens.usecases.control_plane import ControlPlane

    database, service, account = _world(url, args)
    figures: dict[str, list[float]] = {"full": [], "in force": [], "reload": []}
    for _ in range(args.changes):
        started = time.perf_counter()
        compile_state(ControlPlane(database).snapshot(account))  # nothing to reuse
        figures["full"].append(time.perf_counter() - started)
    principal = Principal(
        PrincipalKind.API_TOKEN, "bench", (Grant(ContainerKind.ACCOUNT, account, Permission.WRITE),)
    )
    ref = ContainerRef(ContainerKind.ACCOUNT, account, "/")
    snapshot = ControlPlane(database).snapshot(account)
    ids = {e.app.fields.body["domain"]: e.app.id for e in snapshot.applications}
    follower = AccessFollower(database, account, interval=0.15)
    follower.start()
    try:
        for k in range(args.changes):
            i = k % args.apps
            domain, _, _ = target_of(i)
            app_id = ids[domain]
            before = follower.state
            assert before is not None
            token = service.tokens.create(principal, ref, _fields(f"change-{k}"))[0]
            body = {
                "type": "self_hosted",
                "domain": domain,
                "name": f"app {i}",
                "policies": policies_for(token.id, [token.id], args.policies_per_app),
            }
            service.applications.update(principal, ref, app_id, body)
            committed = time.perf_counter()
            deadline = committed + 30
            while True:
                state = follower.state
                if state is not None and state.version > before.version:
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError("the change did not reach the follower in 30 s")
                time.sleep(0.001)  # a poll with a deadline: the bench's clock, not a wait
            figures["in force"].append(time.perf_counter() - committed)
            figures["reload"].append(follower.last_reload_seconds)
    finally:
        follower.stop()
        database.dispose()
    return figures


def _fields(name: str) -> object:
    from servicetokens.domain.fields import TokenFields

    return TokenFields(name=name)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--policies-per-app", type=int, default=10)
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--engine", action="append", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    engines = args.engine or ["sqlite", "postgresql"]
    print(
        f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
        f"command: python -m bench.gate_reload {' '.join(sys.argv[1:] if argv is None else argv)}"
    )
    out: dict[str, dict[str, float]] = {}
    for engine in engines:
        if engine == "sqlite":
            tmp = Path(tempfile.mkdtemp(prefix="bench-reload-"))
            figures = _measure(f"sqlite:///{tmp / 'bench.db'}", args)
        else:
            figures = _postgres(args)
        for name, values in figures.items():
            out[f"{engine} {name}"] = {
                "best": min(values),
                "median": statistics.median(values),
                "worst": max(values),
            }
    print(f"\n{args.apps} applications, {args.apps * args.policies_per_app} policies")
    print("| engine | measure | best s | median s | worst s |\n|---|---|---:|---:|---:|")
    for key, row in out.items():
        engine, name = key.split(" ", 1)
        print(
            f"| {engine} | {name} | {row['best']:.3f} | {row['median']:.3f} | {row['worst']:.3f} |"
        )
    return out


def _postgres(args: argparse.Namespace) -> dict[str, list[float]]:
    import uuid

    import psycopg

    name = f"bench_reload_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = admin.rsplit("/", 1)[0]
        return _measure(f"{base}/{name}", args)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
